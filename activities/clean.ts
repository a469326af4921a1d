/**
 * The clean step: raw reviews -> `cleaned.parquet` (+ `quarantine.jsonl`, `manifest.json`) in
 * `<storage.root>/<pipelineId>/clean/`.
 *
 * Streams the input (never holds the file in memory), applies the seed's cleaning
 * (lib/cleaning.ts), the category filter and per-review hash sampling, and writes every malformed
 * row to the quarantine file with its line and reason instead of dropping it. Faults of the whole
 * file throw `InvalidDataError` (not retryable); a broken count invariant throws a plain Error
 * (a bug: retryable).
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { DuckDBInstance, type DuckDBAppender } from '@duckdb/node-api';
import { configHash, ensureStepDir, resolveFromRepo, sqlString, tempPathFor, writeFileAtomic } from '../lib/artifacts';
import { cleanText, hashFraction } from '../lib/cleaning';
import { InvalidDataError } from '../lib/errors';
import type { CleanCounts, CleanResult, StepInput } from '../lib/steps';

/** The Amazon Customer Reviews TSV header, in file order. */
export const AMAZON_TSV_COLUMNS = [
  'marketplace',
  'customer_id',
  'review_id',
  'product_id',
  'product_parent',
  'product_title',
  'product_category',
  'star_rating',
  'helpful_votes',
  'total_votes',
  'vine',
  'verified_purchase',
  'review_headline',
  'review_body',
  'review_date',
] as const;

const TSV_REQUIRED_COLUMNS = ['review_id', 'product_id', 'product_category', 'star_rating', 'review_headline', 'review_body'];
const CSV_REQUIRED_COLUMNS = ['text', 'summary'];

/** No review is this long; a longer line means a wrong file, and must not exhaust memory. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;
/** An unterminated quote would otherwise swallow the rest of a CSV file into one record. */
const MAX_CSV_RECORD_LINES = 1000;
const QUARANTINE_RAW_CHARS = 2000;
const READ_CHUNK_BYTES = 1024 * 1024;

type DataConfig = StepInput['config']['data'];
type InputFormat = Exclude<DataConfig['format'], 'auto'>;

/** One review, whatever the input format. */
interface ReviewRecord {
  reviewId: string;
  productId: string;
  /** null when the input has no category column (CSV). */
  category: string | null;
  starRating: number | null;
  body: string;
  headline: string;
}

/** Where the readers send each data row: a record, or a quarantine entry. */
interface RowSink {
  accept(record: ReviewRecord): void;
  quarantine(line: number, reason: string, raw: string): void;
}

/** Per physical line (without its newline and trailing CR); `oversized` lines hold their head only. */
type LineHandler = (bytes: Buffer, lineNumber: number, oversized: boolean) => void;

/** A format reader: takes lines, counts the data rows it hands to the sink. */
interface FormatReader {
  onLine: LineHandler;
  /** Called once the input is exhausted (flushes a pending CSV record). */
  finish(): void;
  readonly rowsRead: number;
  readonly headerSeen: boolean;
  readonly blankLines: number;
}

/** Hooks for the Temporal activity around `clean`: heartbeat and cancellation. */
export interface CleanHooks {
  /** Called after each input chunk with the rows read so far. */
  onProgress?: (rowsRead: number) => void;
  /** Aborting stops the step after the current chunk; no output is published. */
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Reading.

function detectFormat(file: string, configured: DataConfig['format']): InputFormat {
  if (configured !== 'auto') return configured;
  const name = file.toLowerCase();
  if (name.endsWith('.tsv') || name.endsWith('.tsv.gz')) return 'amazon-tsv';
  if (name.endsWith('.csv') || name.endsWith('.csv.gz')) return 'csv';
  throw new InvalidDataError(
    file,
    'format "auto" cannot tell the format from the extension',
    'Name the file .tsv, .tsv.gz (Amazon Customer Reviews) or .csv, .csv.gz (text,summary), or set data.format to "amazon-tsv" or "csv"',
  );
}

/** Size, mtime and whether it is gzip (by its magic bytes, whatever its name). */
async function inspectInput(file: string): Promise<{ sizeBytes: number; mtime: string; gzip: boolean }> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidDataError(
      file,
      code === 'ENOENT' ? 'the input file does not exist' : `the input file cannot be read (${code ?? String(error)})`,
      'Check data.input (a relative path resolves against the repository root); for the demo run `npx tsx scripts/generate-reviews.ts --out data/demo/camera_reviews.tsv.gz`',
    );
  }
  if (!info.isFile()) throw new InvalidDataError(file, 'the input is not a regular file', 'Point data.input at a .tsv, .tsv.gz or .csv file');
  if (info.size === 0) throw new InvalidDataError(file, 'the input file is empty', 'Regenerate or re-download it');
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, 0);
    return { sizeBytes: info.size, mtime: info.mtime.toISOString(), gzip: magic[0] === 0x1f && magic[1] === 0x8b };
  } finally {
    await handle.close();
  }
}

/**
 * Streams the file's lines to `handler` (synchronously, chunk by chunk) and awaits
 * `afterChunk` between chunks, where output backpressure, progress and cancellation are handled.
 */
async function forEachLine(file: string, gzip: boolean, handler: LineHandler, afterChunk: () => Promise<void>): Promise<void> {
  const source = createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
  const input = gzip ? source.pipe(createGunzip({ chunkSize: READ_CHUNK_BYTES })) : source;
  if (gzip) source.on('error', (error) => input.destroy(error));
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let oversized = false;
  let lineNumber = 0;
  const emit = (tail: Buffer) => {
    let line = carry.length === 0 ? tail : Buffer.concat([...carry, tail]);
    if (oversized) line = line.subarray(0, QUARANTINE_RAW_CHARS * 4);
    lineNumber += 1;
    if (lineNumber === 1 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) line = line.subarray(3);
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    handler(line, lineNumber, oversized);
    carry = [];
    carryBytes = 0;
    oversized = false;
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let start = 0;
      for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
        emit(chunk.subarray(start, newline));
        start = newline + 1;
      }
      if (start < chunk.length && !(oversized && carryBytes >= QUARANTINE_RAW_CHARS * 4)) {
        const rest = chunk.subarray(start);
        carry.push(rest);
        carryBytes += rest.length;
        if (carryBytes > MAX_LINE_BYTES) {
          // Keep the head for the quarantine entry and drop the rest of the line.
          carry = [Buffer.concat(carry).subarray(0, QUARANTINE_RAW_CHARS * 4)];
          carryBytes = carry[0].length;
          oversized = true;
        }
      }
      await afterChunk();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (gzip && typeof code === 'string' && code.startsWith('Z_')) {
      throw new InvalidDataError(file, `gzip data is corrupt or truncated after line ${lineNumber} (${(error as Error).message})`, 'Re-download or regenerate the file');
    }
    throw error;
  } finally {
    // pipe() does not close the source when the gunzip side stops early.
    source.destroy();
  }
  if (carryBytes > 0 || oversized) emit(Buffer.alloc(0));
}

/** Checks shared by both formats: the decoded text, or why the row is malformed. */
function decodeRow(bytes: Buffer, oversized: boolean): { text: string } | { reason: string } {
  if (oversized) return { reason: `line longer than ${MAX_LINE_BYTES} bytes` };
  if (bytes.includes(0)) return { reason: 'contains a NUL byte' };
  if (!isUtf8(bytes)) return { reason: 'invalid UTF-8' };
  return { text: bytes.toString('utf8') };
}

function columnIndex(file: string, header: readonly string[], required: readonly string[], formatHint: string): Map<string, number> {
  const index = new Map(header.map((name, i) => [name.trim(), i]));
  const missing = required.filter((name) => !index.has(name));
  if (missing.length > 0) {
    const found = header.join(', ').slice(0, 300);
    throw new InvalidDataError(file, `the header lacks column(s) ${missing.join(', ')} (found: ${found})`, formatHint);
  }
  return index;
}

const TSV_HINT =
  'Use the Amazon Customer Reviews TSV (15 tab-separated columns, header first) or set data.format to "csv" for a text,summary CSV';
const CSV_HINT = 'Use a CSV whose header has text and summary columns, or set data.format to "amazon-tsv" for the Amazon TSV';

function headerText(file: string, bytes: Buffer, oversized: boolean, hint: string): string {
  const decoded = decodeRow(bytes, oversized);
  if ('reason' in decoded) throw new InvalidDataError(file, `the header line is unreadable (${decoded.reason})`, hint);
  return decoded.text;
}

function amazonTsvReader(file: string, sink: RowSink): FormatReader {
  let columns: Map<string, number> | null = null;
  let width = 0;
  let rowsRead = 0;
  let blankLines = 0;
  return {
    onLine(bytes, lineNumber, oversized) {
      if (columns === null) {
        const header = headerText(file, bytes, oversized, TSV_HINT).split('\t');
        columns = columnIndex(file, header, TSV_REQUIRED_COLUMNS, TSV_HINT);
        width = header.length;
        return;
      }
      if (bytes.length === 0 && !oversized) {
        blankLines += 1;
        return;
      }
      rowsRead += 1;
      const decoded = decodeRow(bytes, oversized);
      if ('reason' in decoded) return sink.quarantine(lineNumber, decoded.reason, bytes.toString('utf8'));
      const fields = decoded.text.split('\t');
      if (fields.length !== width) {
        return sink.quarantine(lineNumber, `expected ${width} tab-separated columns, found ${fields.length}`, decoded.text);
      }
      const field = (name: string) => fields[columns!.get(name)!];
      const reviewId = field('review_id');
      if (reviewId === '') return sink.quarantine(lineNumber, 'empty review_id', decoded.text);
      const rating = field('star_rating');
      if (!/^[1-5]$/.test(rating)) {
        return sink.quarantine(lineNumber, `star_rating ${JSON.stringify(rating.slice(0, 20))} is not an integer from 1 to 5`, decoded.text);
      }
      sink.accept({
        reviewId,
        productId: field('product_id'),
        category: field('product_category'),
        starRating: Number(rating),
        body: field('review_body'),
        headline: field('review_headline'),
      });
    },
    finish() {},
    get rowsRead() {
      return rowsRead;
    },
    get headerSeen() {
      return columns !== null;
    },
    get blankLines() {
      return blankLines;
    },
  };
}

/** Splits one complete CSV record (RFC 4180); returns the fields, or why it is malformed. */
export function parseCsvRecord(record: string): string[] | { reason: string } {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (record[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const quote = record.indexOf('"', i);
        if (quote === -1) return { reason: `unterminated quoted field ${fields.length + 1}` };
        value += record.slice(i, quote);
        if (record[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i === record.length) return fields;
      if (record[i] !== ',') return { reason: `text after the closing quote of field ${fields.length}` };
      i += 1;
    } else {
      const comma = record.indexOf(',', i);
      const value = record.slice(i, comma === -1 ? record.length : comma);
      if (value.includes('"')) return { reason: `quote inside unquoted field ${fields.length + 1}` };
      fields.push(value);
      if (comma === -1) return fields;
      i = comma + 1;
    }
  }
}

function countQuotes(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(0x22); at !== -1; at = bytes.indexOf(0x22, at + 1)) count += 1;
  return count;
}

/**
 * CSV with a `text,summary` header (optional product_id and product_category columns are used).
 * Lines are joined into records while a quote is open; review_id is `<file name>:<first line>`.
 */
function csvReader(file: string, sink: RowSink, categoryFilter: string | null): FormatReader {
  const name = basename(file);
  let columns: Map<string, number> | null = null;
  let width = 0;
  let rowsRead = 0;
  let blankLines = 0;
  let pending: Buffer[] = [];
  let pendingStart = 0;
  let pendingOversized = false;
  let quoteOpen = false;

  const completeRecord = () => {
    const bytes = pending.length === 1 ? pending[0] : Buffer.concat(pending.flatMap((line, i) => (i === 0 ? [line] : [Buffer.from('\n'), line])));
    const line = pendingStart;
    const unterminated = quoteOpen;
    const oversized = pendingOversized;
    pending = [];
    pendingOversized = false;
    quoteOpen = false;
    if (columns === null) {
      const header = parseCsvRecord(headerText(file, bytes, oversized, CSV_HINT));
      if (!Array.isArray(header)) throw new InvalidDataError(file, `the header line is malformed (${header.reason})`, CSV_HINT);
      columns = columnIndex(file, header, CSV_REQUIRED_COLUMNS, CSV_HINT);
      width = header.length;
      if (categoryFilter !== null && !columns.has('product_category')) {
        throw new InvalidDataError(
          file,
          `data.category is "${categoryFilter}" but the CSV has no product_category column`,
          'Set data.category to null for this file, or add a product_category column',
        );
      }
      return;
    }
    rowsRead += 1;
    const decoded = decodeRow(bytes, oversized);
    if ('reason' in decoded) return sink.quarantine(line, decoded.reason, bytes.toString('utf8'));
    if (unterminated) return sink.quarantine(line, `quoted field not closed (by end of file or within ${MAX_CSV_RECORD_LINES} lines)`, decoded.text);
    const fields = parseCsvRecord(decoded.text);
    if (!Array.isArray(fields)) return sink.quarantine(line, fields.reason, decoded.text);
    if (fields.length !== width) return sink.quarantine(line, `expected ${width} comma-separated columns, found ${fields.length}`, decoded.text);
    const field = (column: string) => {
      const at = columns!.get(column);
      return at === undefined ? null : fields[at];
    };
    sink.accept({
      reviewId: `${name}:${line}`,
      productId: field('product_id') ?? '',
      category: field('product_category'),
      starRating: null,
      body: field('text')!,
      headline: field('summary')!,
    });
  };

  return {
    onLine(bytes, lineNumber, oversized) {
      if (pending.length === 0) {
        if (bytes.length === 0 && !oversized) {
          if (columns !== null) blankLines += 1;
          return;
        }
        pendingStart = lineNumber;
      }
      pending.push(bytes);
      pendingOversized ||= oversized;
      if (countQuotes(bytes) % 2 === 1) quoteOpen = !quoteOpen;
      if (quoteOpen && pending.length < MAX_CSV_RECORD_LINES && !pendingOversized) return;
      completeRecord();
    },
    finish() {
      if (pending.length > 0) completeRecord();
    },
    get rowsRead() {
      return rowsRead;
    },
    get headerSeen() {
      return columns !== null;
    },
    get blankLines() {
      return blankLines;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Filtering, cleaning and writing.

const CREATE_CLEANED_TABLE = `CREATE TABLE cleaned (
  review_id VARCHAR, product_id VARCHAR, text VARCHAR, summary VARCHAR, star_rating INTEGER)`;

/** Decides each row's fate (the counts) and appends kept rows to DuckDB. */
class CleaningSink implements RowSink {
  readonly counts: Omit<CleanCounts, 'read'> = { kept: 0, droppedEmpty: 0, filteredCategory: 0, sampledOut: 0, quarantined: 0 };

  constructor(
    private readonly file: string,
    private readonly data: DataConfig,
    private readonly appender: DuckDBAppender,
    private readonly quarantineOut: WriteStream,
  ) {}

  accept(record: ReviewRecord): void {
    if (this.data.category !== null && record.category !== this.data.category) {
      this.counts.filteredCategory += 1;
      return;
    }
    // Decided by the review alone, so file order and sharding do not change the sample.
    if (this.data.sampleFraction < 1 && hashFraction('sample', this.data.seed, record.reviewId) >= this.data.sampleFraction) {
      this.counts.sampledOut += 1;
      return;
    }
    const text = cleanText(record.body, this.data.maxTextWords);
    const summary = cleanText(record.headline, this.data.maxSummaryWords);
    if (text === '' || summary === '') {
      this.counts.droppedEmpty += 1;
      return;
    }
    this.appender.appendVarchar(record.reviewId);
    this.appender.appendVarchar(record.productId);
    this.appender.appendVarchar(text);
    this.appender.appendVarchar(summary);
    if (record.starRating === null) this.appender.appendNull();
    else this.appender.appendInteger(record.starRating);
    this.appender.endRow();
    this.counts.kept += 1;
  }

  quarantine(line: number, reason: string, raw: string): void {
    this.quarantineOut.write(`${JSON.stringify({ file: this.file, line, reason, raw: raw.slice(0, QUARANTINE_RAW_CHARS) })}\n`);
    this.counts.quarantined += 1;
  }
}

/** Cleans `config.data.input` into `<storage.root>/<pipelineId>/clean/`. */
export async function clean(input: StepInput, hooks: CleanHooks = {}): Promise<CleanResult> {
  const startedAt = new Date();
  const started = performance.now();
  const data = input.config.data;
  const file = resolveFromRepo(data.input);
  const format = detectFormat(file, data.format);
  const source = await inspectInput(file);

  const outDir = await ensureStepDir(input.config, input.pipelineId, 'clean');
  const manifestPath = join(outDir, 'manifest.json');
  // The manifest marks a finished step: remove an earlier run's before touching its outputs.
  await rm(manifestPath, { force: true });
  const cleanedPath = join(outDir, 'cleaned.parquet');
  const quarantinePath = join(outDir, 'quarantine.jsonl');
  const cleanedTemp = tempPathFor(cleanedPath);
  const quarantineTemp = tempPathFor(quarantinePath);
  // Tables larger than memory spill here rather than to the worker's cwd.
  const spillDir = tempPathFor(join(outDir, 'duckdb-spill'));

  const instance = await DuckDBInstance.create(':memory:', { temp_directory: spillDir });
  const connection = await instance.connect();
  const quarantineOut = createWriteStream(quarantineTemp);
  try {
    await connection.run(CREATE_CLEANED_TABLE);
    const appender = await connection.createAppender('cleaned');
    const sink = new CleaningSink(file, data, appender, quarantineOut);
    const reader = format === 'csv' ? csvReader(file, sink, data.category) : amazonTsvReader(file, sink);
    await forEachLine(file, source.gzip, reader.onLine, async () => {
      if (quarantineOut.writableNeedDrain) await once(quarantineOut, 'drain');
      hooks.signal?.throwIfAborted();
      hooks.onProgress?.(reader.rowsRead);
    });
    reader.finish();
    appender.closeSync();
    quarantineOut.end();
    await once(quarantineOut, 'finish');
    const readDone = performance.now();

    const hint = format === 'csv' ? CSV_HINT : TSV_HINT;
    if (!reader.headerSeen) throw new InvalidDataError(file, 'the input has no header line', hint);
    if (reader.rowsRead === 0) throw new InvalidDataError(file, 'the input has a header but no data rows', 'Point data.input at a file with reviews');
    const counts: CleanCounts = { read: reader.rowsRead, ...sink.counts };
    const accounted = counts.kept + counts.droppedEmpty + counts.filteredCategory + counts.sampledOut + counts.quarantined;
    if (accounted !== counts.read) {
      throw new Error(`clean: row counts do not add up for ${file}: read ${counts.read} != ${accounted} accounted (${JSON.stringify(counts)}); this is a bug in activities/clean.ts`);
    }

    await rename(quarantineTemp, quarantinePath);
    if (counts.kept === 0) {
      throw new InvalidDataError(
        file,
        `no rows left after cleaning (${JSON.stringify(counts)}; malformed rows are in ${quarantinePath})`,
        'Check data.category, data.sampleFraction and data.format against the file',
      );
    }
    await connection.run(`COPY cleaned TO ${sqlString(cleanedTemp)} (FORMAT parquet, COMPRESSION zstd)`);
    await rename(cleanedTemp, cleanedPath);
    const finished = performance.now();

    const seconds = (finished - started) / 1000;
    await writeFileAtomic(
      manifestPath,
      JSON.stringify(
        {
          step: 'clean',
          pipelineId: input.pipelineId,
          input: { path: file, format, gzip: source.gzip, sizeBytes: source.sizeBytes, mtime: source.mtime },
          configHash: configHash(data),
          config: data,
          counts,
          blankLines: reader.blankLines,
          timings: {
            startedAt: startedAt.toISOString(),
            finishedAt: new Date().toISOString(),
            readSeconds: (readDone - started) / 1000,
            writeSeconds: (finished - readDone) / 1000,
            seconds,
            rowsPerSecond: Math.round(counts.read / seconds),
            inputMegabytesPerSecond: source.sizeBytes / 1e6 / seconds,
          },
          outputs: { cleaned: { path: cleanedPath, rows: counts.kept }, quarantine: { path: quarantinePath, rows: counts.quarantined } },
        },
        null,
        2,
      ) + '\n',
    );
    return { cleanedPath, quarantinePath, counts };
  } finally {
    if (!quarantineOut.closed) {
      // On failure its pending writes error out; the step has already failed with its own error.
      quarantineOut.on('error', () => {});
      await new Promise<void>((closed) => quarantineOut.destroy().once('close', () => closed()));
    }
    connection.closeSync();
    instance.closeSync();
    await Promise.all([cleanedTemp, quarantineTemp, spillDir].map((path) => rm(path, { recursive: true, force: true })));
  }
}
