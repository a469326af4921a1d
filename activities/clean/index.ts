/**
 * The clean step: raw reviews -> `cleaned.parquet` (+ `quarantine.jsonl`, `manifest.json`) in
 * `<storage.root>/<pipelineId>/clean/`.
 *
 * Streams every input file (never holds one in memory): each data row is either quarantined
 * (malformed: written to `quarantine.jsonl` with file, line and reason), dropped by a rule
 * (category, empty or too short after cleaning), sampled out (a hash of (seed, review id)), or
 * becomes a candidate; candidates go to temporary CSVs that DuckDB dedupes by review id and
 * writes as Parquet. Every row is accounted for:
 * `read = kept + droppedByRule + quarantined + deduped + sampledOut`, checked before publishing.
 * Whole-file faults throw `InvalidDataError` (not retryable), found by a look at each file's
 * head before any row is processed where the head shows them.
 *
 * Files, and byte ranges of large uncompressed TSVs, are tasks that run on worker threads
 * (`data.threads`); the result does not depend on how many. docs/data-preparation.md describes
 * the rules for users.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { configHash, ensureStepDir, resolveFromRepo, sqlString, tempPathFor, writeFileAtomic } from '../../lib/artifacts';
import { cleanerFor, countWords, hashFraction } from '../../lib/cleaning';
import { InvalidDataError } from '../../lib/failures';
import { CleanCounts, CleanTaskResult, type CleanPlan, type CleanResult, type CleanShardInput, type CleanTask, type MergeCleanInput, type StepInput } from '../../lib/steps';
import { gzipError, readHead, resolveInput, type DataConfig, type FileFormat, type InputFile } from './inputs';

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

/** No review is this long; a longer line means a wrong file, and must not exhaust memory. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;
/** An unterminated quote would otherwise swallow the rest of a CSV file into one record. */
const MAX_CSV_RECORD_LINES = 1000;
const QUARANTINE_RAW_CHARS = 2000;
const READ_CHUNK_BYTES = 1024 * 1024;
/** How much of each file is looked at before the run (enough for any header and a first row). */
const PROBE_BYTES = 1024 * 1024;
/** Output is written in blocks of about this many characters. */
const FLUSH_CHARS = 1024 * 1024;
/**
 * The merge's DuckDB threads, and its memory: beyond the limit the dedupe spills to disk, so
 * peak RSS stops growing with the input. Each thread's CSV read buffer counts against the limit,
 * so it grows with the threads (2 threads: 192 MB), and the threads are capped to keep it small.
 * (DuckDB's readers and writers use some memory outside the limit.)
 */
const MERGE_MAX_THREADS = 16;
const mergeMemoryLimitMB = (threads: number) => 128 + 32 * threads;
/** A TSV is split into byte ranges of at least this size, cleaned in parallel. */
const RANGE_MIN_BYTES = 16 * 1024 * 1024;
/** Line numbers of a task fit below this, so (task index, line) is one sortable BIGINT. */
const LINES_PER_TASK = 2 ** 32;

// ---------------------------------------------------------------------------------------------
// Columns.

/** The fields clean reads; `data.columns` maps each to an input column. */
const FIELDS = ['text', 'summary', 'productId', 'reviewId', 'category', 'rating'] as const;
type Field = (typeof FIELDS)[number];
type Columns = Record<Field, string>;

const AMAZON_COLUMNS: Columns = {
  text: 'review_body',
  summary: 'review_headline',
  productId: 'product_id',
  reviewId: 'review_id',
  category: 'product_category',
  rating: 'star_rating',
};
const PLAIN_COLUMNS: Columns = {
  text: 'text',
  summary: 'summary',
  productId: 'product_id',
  reviewId: 'review_id',
  category: 'product_category',
  rating: 'star_rating',
};

/** The column of each field, and the fields whose column must exist in every file. */
function columnsFor(format: FileFormat, data: DataConfig): { names: Columns; required: Field[] } {
  const names = { ...(format === 'amazon-tsv' ? AMAZON_COLUMNS : PLAIN_COLUMNS), ...data.columns };
  const required = FIELDS.filter(
    (field) =>
      field === 'text' ||
      field === 'summary' ||
      format === 'amazon-tsv' ||
      data.columns[field] !== undefined ||
      (field === 'category' && data.category !== null),
  );
  return { names, required };
}

/** Where each field sits in a row (-1: absent); throws naming the missing required columns. */
function locateColumns(file: InputFile, header: readonly string[], data: DataConfig): Record<Field, number> {
  const { names, required } = columnsFor(file.format, data);
  const index = new Map(header.map((name, i) => [name.trim(), i]));
  const missing = required.filter((field) => !index.has(names[field]));
  if (missing.length > 0) {
    const columns = missing.map((field) => `${names[field]} (${field})`).join(', ');
    throw new InvalidDataError(
      file.path,
      `the header lacks column(s) ${columns}; found: ${header.join(', ').slice(0, 300)}`,
      'Map the fields to this file\'s columns with data.columns (text, summary, productId, reviewId, category, rating), or check data.format',
    );
  }
  return Object.fromEntries(FIELDS.map((field) => [field, index.get(names[field]) ?? -1])) as Record<Field, number>;
}

// ---------------------------------------------------------------------------------------------
// Row routing: every row read ends in exactly one count.

/** One row's fields as read (null: the column is absent, or the JSON field missing or null). */
type RowFields = Record<Field, string | null>;

/** Appends CSV text to a file in large blocks; `drain()` between input chunks applies backpressure. */
class BlockWriter {
  private block = '';
  readonly stream: WriteStream;

  constructor(path: string) {
    this.stream = createWriteStream(path);
  }

  write(text: string): void {
    this.block += text;
    if (this.block.length >= FLUSH_CHARS) this.flush();
  }

  private flush(): void {
    if (this.block !== '') this.stream.write(this.block);
    this.block = '';
  }

  async drain(): Promise<void> {
    if (this.stream.writableNeedDrain) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    this.flush();
    this.stream.end();
    await once(this.stream, 'finish');
  }

  /** After a failure: close without waiting for pending writes (they error out, and are ignored). */
  async abandon(): Promise<void> {
    if (this.stream.closed) return;
    this.stream.on('error', () => {});
    await new Promise<void>((closed) => this.stream.destroy().once('close', () => closed()));
  }
}

/** A CSV field DuckDB reads back exactly: always quoted, so "" stays an empty string. */
function csvQuote(value: string): string {
  return value.includes('"') ? `"${value.replaceAll('"', '""')}"` : `"${value}"`;
}

const RATING = /^[1-5]$/;

/** Applies checks and rules to each row and counts where it went. */
class RowRouter {
  read = 0;
  quarantined = 0;
  droppedEmpty = 0;
  droppedShort = 0;
  filteredCategory = 0;
  sampledOut = 0;
  candidates = 0;
  private file!: InputFile;
  private task = 0;
  /** The current file's column names, for quarantine reasons. */
  private columns!: Columns;
  private readonly clean: (text: string, maxWords: number) => string;

  constructor(
    private readonly data: DataConfig,
    private readonly candidatesOut: BlockWriter,
    private readonly quarantineOut: BlockWriter,
  ) {
    this.clean = cleanerFor(data.cleaning);
  }

  /** `task` orders the tasks of one run as (file, byte range): the first copy of a review wins. */
  startFile(file: InputFile, task: number): void {
    this.file = file;
    this.task = task;
    this.columns = columnsFor(file.format, this.data).names;
  }

  quarantine(line: number, reason: string, raw: string): void {
    this.read += 1;
    this.quarantined += 1;
    this.quarantineOut.write(`${JSON.stringify({ file: this.file.path, line, reason, raw: raw.slice(0, QUARANTINE_RAW_CHARS) })}\n`);
  }

  /** `raw` is the row as read, for the quarantine file (a function where building it costs). */
  row(line: number, fields: RowFields, raw: string | (() => string)): void {
    const fault = this.fault(fields);
    if (fault !== null) return this.quarantine(line, fault, typeof raw === 'string' ? raw : raw());
    this.read += 1;
    const data = this.data;
    if (data.category !== null && fields.category !== data.category) {
      this.filteredCategory += 1;
      return;
    }
    // Without a review id column a row is named by its place: `<file>:<line>`.
    const reviewId = fields.reviewId ?? `${this.file.name}:${line}`;
    // Decided by the review alone, so file order and sharding do not change the sample.
    if (data.sampleFraction < 1 && hashFraction('sample', data.seed, reviewId) >= data.sampleFraction) {
      this.sampledOut += 1;
      return;
    }
    const text = this.clean(fields.text!, data.maxTextWords);
    const summary = this.clean(fields.summary!, data.maxSummaryWords);
    if (text === '' || summary === '') {
      this.droppedEmpty += 1;
      return;
    }
    if (
      (data.minTextWords > 1 && countWords(text) < data.minTextWords) ||
      (data.minSummaryWords > 1 && countWords(summary) < data.minSummaryWords)
    ) {
      this.droppedShort += 1;
      return;
    }
    const seq = this.task * LINES_PER_TASK + line;
    this.candidatesOut.write(
      `${seq},${csvQuote(reviewId)},${csvQuote(fields.productId ?? '')},${csvQuote(text)},${csvQuote(summary)},${fields.rating ?? ''}\n`,
    );
    this.candidates += 1;
  }

  /** Why the row is malformed, or null. */
  private fault(fields: RowFields): string | null {
    const columns = this.columns;
    if (fields.text === null) return `missing field ${columns.text}`;
    if (fields.summary === null) return `missing field ${columns.summary}`;
    const max = this.data.maxFieldChars;
    for (const field of FIELDS) {
      const value = fields[field];
      if (value === null) continue;
      if (value.length > max) return `field ${columns[field]} has ${value.length} characters, over data.maxFieldChars (${max})`;
      if (value.includes('\0')) return `field ${columns[field]} contains a NUL character`;
    }
    if (fields.reviewId === '') return `empty ${columns.reviewId}`;
    if (fields.rating !== null && fields.rating !== '' && !RATING.test(fields.rating)) {
      return `${columns.rating} ${JSON.stringify(fields.rating.slice(0, 20))} is not an integer from 1 to 5`;
    }
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading lines.

/** Bytes [start, end) of a file (end null: to the end); both on line starts. */
type ByteRange = CleanTask['range'];

/** Per physical line: its text (CR and BOM removed), 1-based number, and a line-level fault. */
type LineHandler = (text: string, line: number, fault: string | null) => void;

/**
 * Streams the file's lines to `handler` (synchronously, chunk by chunk) and awaits `afterChunk`
 * between chunks, where output backpressure, progress and cancellation are handled. A run of
 * complete lines that is valid UTF-8 without NUL bytes (nearly always the whole chunk) is
 * decoded at once; otherwise each line is checked on its own. Returns the lines read.
 */
async function forEachLine(file: InputFile, range: ByteRange, handler: LineHandler, afterChunk: () => Promise<void>): Promise<number> {
  const source = createReadStream(file.path, { highWaterMark: READ_CHUNK_BYTES, start: range.start, end: range.end === null ? undefined : range.end - 1 });
  const input = file.gzip ? source.pipe(createGunzip({ chunkSize: READ_CHUNK_BYTES })) : source;
  if (file.gzip) source.on('error', (error) => input.destroy(error));
  let lineNumber = 0;
  /** The start of a line continued in the next chunk. */
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Inside a line over MAX_LINE_BYTES: its head is kept, the rest skipped up to its newline. */
  let oversized = false;

  const emitText = (text: string, fault: string | null) => {
    lineNumber += 1;
    if (lineNumber === 1 && range.start === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
    handler(text, lineNumber, fault);
  };
  const emitBytes = (bytes: Buffer) => {
    if (oversized) return emitText(bytes.subarray(0, QUARANTINE_RAW_CHARS * 4).toString('utf8'), `line longer than ${MAX_LINE_BYTES} bytes`);
    const fault = bytes.includes(0) ? 'contains a NUL byte' : isUtf8(bytes) ? null : 'invalid UTF-8';
    emitText(bytes.toString('utf8'), fault);
  };
  /** Complete lines, without the final newline. */
  const emitRegion = (region: Buffer) => {
    if (region.indexOf(0) === -1 && isUtf8(region)) {
      const text = region.toString('utf8');
      let start = 0;
      for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
        emitText(text.slice(start, newline), null);
        start = newline + 1;
      }
      emitText(start === 0 ? text : text.slice(start), null);
      return;
    }
    let start = 0;
    for (let newline = region.indexOf(0x0a); newline !== -1; newline = region.indexOf(0x0a, start)) {
      emitBytes(region.subarray(start, newline));
      start = newline + 1;
    }
    emitBytes(region.subarray(start));
  };
  const finishPending = (tail: Buffer) => {
    emitBytes(pending.length === 0 ? tail : Buffer.concat([...pending, tail]));
    pending = [];
    pendingBytes = 0;
    oversized = false;
  };
  const keepPending = (rest: Buffer) => {
    if (oversized) return;
    pending.push(rest);
    pendingBytes += rest.length;
    if (pendingBytes > MAX_LINE_BYTES) {
      // Keep the head for the quarantine entry and drop the rest of the line.
      pending = [Buffer.concat(pending).subarray(0, QUARANTINE_RAW_CHARS * 4)];
      oversized = true;
    }
  };

  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let start = 0;
      if (pendingBytes > 0 || oversized) {
        const newline = chunk.indexOf(0x0a);
        if (newline === -1) {
          keepPending(chunk);
          await afterChunk();
          continue;
        }
        finishPending(chunk.subarray(0, newline));
        start = newline + 1;
      }
      const lastNewline = chunk.lastIndexOf(0x0a);
      if (lastNewline >= start) {
        emitRegion(chunk.subarray(start, lastNewline));
        start = lastNewline + 1;
      }
      // A copy: a slice would keep the whole chunk alive.
      if (start < chunk.length) keepPending(Buffer.from(chunk.subarray(start)));
      await afterChunk();
    }
  } catch (error) {
    throw gzipError(file, error, lineNumber);
  } finally {
    // pipe() does not close the source when the gunzip side stops early.
    source.destroy();
  }
  if (pendingBytes > 0 || oversized) finishPending(Buffer.alloc(0));
  return lineNumber;
}

// ---------------------------------------------------------------------------------------------
// Formats.

/** A format reader over one file's lines. */
interface LineReader {
  onLine: LineHandler;
  /** Called once the file is exhausted (flushes a pending CSV record). */
  finish(): void;
  readonly headerSeen: boolean;
  readonly blankLines: number;
}

function fieldsAt(values: readonly string[], at: Record<Field, number>): RowFields {
  return {
    text: at.text === -1 ? null : values[at.text],
    summary: at.summary === -1 ? null : values[at.summary],
    productId: at.productId === -1 ? null : values[at.productId],
    reviewId: at.reviewId === -1 ? null : values[at.reviewId],
    category: at.category === -1 ? null : values[at.category],
    rating: at.rating === -1 ? null : values[at.rating],
  };
}

function headerFault(file: InputFile, fault: string): never {
  throw new InvalidDataError(file.path, `the header line is unreadable (${fault})`, 'Check that the file is the format data.format names');
}

/** Field `column` of a TSV line whose field starts are `starts` (a module function: no closure per line). */
function tsvField(text: string, starts: Int32Array, column: number): string | null {
  return column === -1 ? null : text.slice(starts[column], starts[column + 1] - 1);
}

/** Amazon Customer Reviews TSV: a header, then one review per line, 15 tab-separated columns. */
function tsvReader(file: InputFile, data: DataConfig, router: RowRouter): LineReader {
  let at: Record<Field, number> | null = null;
  let width = 0;
  /** Where each field of the current line starts (index `width`: one past the end, plus one). */
  let starts = new Int32Array(1);
  let blankLines = 0;
  return {
    onLine(text, line, fault) {
      if (at === null) {
        if (fault !== null) headerFault(file, fault);
        const header = text.split('\t');
        at = locateColumns(file, header, data);
        width = header.length;
        starts = new Int32Array(width + 1);
        return;
      }
      if (text === '' && fault === null) {
        blankLines += 1;
        return;
      }
      if (fault !== null) return router.quarantine(line, fault, text);
      // Tab positions, not text.split('\t'): only 6 of the 15 fields are needed as strings.
      let columns = 1;
      for (let tab = text.indexOf('\t'); tab !== -1; tab = text.indexOf('\t', tab + 1)) {
        if (columns <= width) starts[columns] = tab + 1;
        columns += 1;
      }
      if (columns !== width) return router.quarantine(line, `expected ${width} tab-separated columns, found ${columns}`, text);
      starts[width] = text.length + 1;
      router.row(
        line,
        {
          text: tsvField(text, starts, at.text),
          summary: tsvField(text, starts, at.summary),
          productId: tsvField(text, starts, at.productId),
          reviewId: tsvField(text, starts, at.reviewId),
          category: tsvField(text, starts, at.category),
          rating: tsvField(text, starts, at.rating),
        },
        text,
      );
    },
    finish() {},
    get headerSeen() {
      return at !== null;
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

function countQuotes(text: string): number {
  let count = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at + 1)) count += 1;
  return count;
}

/**
 * CSV with a header; lines are joined into one record while a quote is open. A quote that never
 * closes (by the end of the file or within MAX_CSV_RECORD_LINES lines) quarantines its first line
 * only: the lines it swallowed are read again as records of their own, so they are not lost.
 */
function csvReader(file: InputFile, data: DataConfig, router: RowRouter): LineReader {
  let at: Record<Field, number> | null = null;
  let width = 0;
  let blankLines = 0;
  let pending: { text: string; line: number; fault: string | null }[] = [];
  let quoteOpen = false;

  const completeRecord = () => {
    const lines = pending;
    const unterminated = quoteOpen;
    pending = [];
    quoteOpen = false;
    const record = lines.map((part) => part.text).join('\n');
    const line = lines[0].line;
    const fault = lines.find((part) => part.fault !== null)?.fault ?? null;
    if (at === null) {
      if (fault !== null) headerFault(file, fault);
      const header = parseCsvRecord(record);
      if (!Array.isArray(header)) throw new InvalidDataError(file.path, `the header line is malformed (${header.reason})`, 'Check that the file is a CSV with a header line');
      at = locateColumns(file, header, data);
      width = header.length;
      return;
    }
    if (unterminated) {
      router.quarantine(line, `unbalanced quotes: a quoted field is not closed (by the end of the file or within ${MAX_CSV_RECORD_LINES} lines)`, lines[0].text);
      // A record opened while replaying may go on in lines not read yet: it stays pending.
      for (const part of lines.slice(1)) onLine(part.text, part.line, part.fault);
      return;
    }
    if (fault !== null) return router.quarantine(line, fault, record);
    const values = parseCsvRecord(record);
    if (!Array.isArray(values)) return router.quarantine(line, values.reason, record);
    if (values.length !== width) return router.quarantine(line, `expected ${width} comma-separated columns, found ${values.length}`, record);
    router.row(line, fieldsAt(values, at), record);
  };

  const onLine: LineHandler = (text, line, fault) => {
    if (pending.length === 0) {
      if (text === '' && fault === null) {
        if (at !== null) blankLines += 1;
        return;
      }
    }
    pending.push({ text, line, fault });
    if (countQuotes(text) % 2 === 1) quoteOpen = !quoteOpen;
    if (quoteOpen && pending.length < MAX_CSV_RECORD_LINES && fault === null) return;
    completeRecord();
  };

  return {
    onLine,
    finish() {
      // At the end of the file every open record is unterminated; its replay may leave another.
      while (pending.length > 0) completeRecord();
    },
    get headerSeen() {
      return at !== null;
    },
    get blankLines() {
      return blankLines;
    },
  };
}

/** A JSON field as text: strings as they are, numbers and booleans written out, null absent. */
function jsonField(value: unknown): string | null | { reason: string } {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return { reason: 'is not a string or number' };
}

/** JSON Lines: one object per line; the mapped fields are its keys. */
function jsonlReader(file: InputFile, data: DataConfig, router: RowRouter): LineReader {
  const { names } = columnsFor(file.format, data);
  let blankLines = 0;
  return {
    onLine(text, line, fault) {
      if (text.trim() === '' && fault === null) {
        blankLines += 1;
        return;
      }
      if (fault !== null) return router.quarantine(line, fault, text);
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch (error) {
        return router.quarantine(line, `invalid JSON (${(error as Error).message})`, text);
      }
      if (typeof record !== 'object' || record === null || Array.isArray(record)) return router.quarantine(line, 'not a JSON object', text);
      const fields = {} as RowFields;
      for (const field of FIELDS) {
        const value = jsonField((record as Record<string, unknown>)[names[field]]);
        if (value !== null && typeof value === 'object') return router.quarantine(line, `field ${names[field]} ${value.reason}`, text);
        fields[field] = value;
      }
      router.row(line, fields, text);
    },
    finish() {},
    headerSeen: true,
    get blankLines() {
      return blankLines;
    },
  };
}

const LINE_READERS: Record<Exclude<FileFormat, 'parquet'>, typeof tsvReader> = { 'amazon-tsv': tsvReader, csv: csvReader, jsonl: jsonlReader };

/** Parquet through DuckDB, a chunk at a time; the "line" of a row is its 1-based row number. */
async function readParquet(
  file: InputFile,
  data: DataConfig,
  router: RowRouter,
  connection: DuckDBConnection,
  afterChunk: () => Promise<void>,
): Promise<void> {
  const at = locateColumns(file, await parquetColumns(file, connection), data);
  const { names } = columnsFor(file.format, data);
  const present = FIELDS.filter((field) => at[field] !== -1);
  const select = present.map((field) => `CAST(${JSON.stringify(names[field])} AS VARCHAR)`).join(', ');
  const result = await connection.stream(`SELECT ${select} FROM read_parquet(${sqlString(file.path)})`);
  let rowNumber = 0;
  for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const columns = chunk.getColumns() as (string | null)[][];
    for (let row = 0; row < chunk.rowCount; row += 1) {
      rowNumber += 1;
      const fields = { text: null, summary: null, productId: null, reviewId: null, category: null, rating: null } as RowFields;
      present.forEach((field, i) => (fields[field] = columns[i][row]));
      router.row(rowNumber, fields, () => JSON.stringify(fields));
    }
    await afterChunk();
  }
}

async function parquetColumns(file: InputFile, connection: DuckDBConnection): Promise<string[]> {
  try {
    const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file.path)})`);
    return described.getRowObjectsJS().map((row) => row.column_name as string);
  } catch (error) {
    throw new InvalidDataError(file.path, `cannot read it as Parquet (${(error as Error).message.split('\n')[0]})`, 'Re-export or re-download the file');
  }
}

// ---------------------------------------------------------------------------------------------
// Whole-file checks before the run.

const noHeader = (file: InputFile) =>
  new InvalidDataError(file.path, 'the input has no header line', 'Check that the file is the format data.format names (the header comes first)');
const noRows = (file: InputFile) =>
  new InvalidDataError(file.path, 'the input has a header but no data rows', 'Point data.input at files with reviews, or remove this one');

/**
 * Fails on what a file's head already shows: no header, missing columns, no rows (when the head
 * is the whole file), a truncated gzip head, an unreadable Parquet file. Returns the header line
 * of a TSV or CSV (null when it is longer than the probe, or the format has none).
 */
async function probe(file: InputFile, data: DataConfig, connection: DuckDBConnection): Promise<string | null> {
  if (file.format === 'parquet') {
    locateColumns(file, await parquetColumns(file, connection), data);
    const counted = await connection.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(file.path)})`);
    if (Number(counted.getRowObjectsJS()[0].n) === 0) throw noRows(file);
    return null;
  }
  const { head, complete } = await readHead(file, PROBE_BYTES);
  const lines = head.toString('utf8').replace(/^\ufeff/, '').split('\n');
  // The last piece of an incomplete head may be a cut line: only whole lines are judged.
  const whole = complete ? lines : lines.slice(0, -1);
  const nonBlank = whole.filter((line) => line.replace(/\r$/, '').trim() !== '');
  if (file.format === 'jsonl') {
    if (complete && nonBlank.length === 0) throw new InvalidDataError(file.path, 'the input has no rows', 'Point data.input at files with reviews, or remove this one');
    let first: unknown;
    try {
      first = JSON.parse(nonBlank[0] ?? '');
    } catch {
      return null; // a malformed first line is the row's fault (quarantined), not the file's
    }
    if (typeof first === 'object' && first !== null && !Array.isArray(first)) locateColumns(file, Object.keys(first), data);
    return null;
  }
  if (complete && head.length === 0) throw noHeader(file);
  if (whole.length === 0) return null; // a header longer than the probe: the run checks it
  const headerLine = whole[0].replace(/\r$/, '');
  const header = file.format === 'csv' ? parseCsvRecord(headerLine) : headerLine.split('\t');
  if (Array.isArray(header)) locateColumns(file, header, data);
  if (complete && nonBlank.length <= 1) throw noRows(file);
  return headerLine;
}

// ---------------------------------------------------------------------------------------------
// The step.

/** Hooks for the Temporal activity around `clean`: heartbeat and cancellation. */
export interface CleanHooks {
  /** Called after each input chunk with the rows read so far. */
  onProgress?: (rowsRead: number) => void;
  /** Aborting stops the step after the current chunk; no output is published. */
  signal?: AbortSignal;
}

type TaskResult = CleanTaskResult;

/** Runs one task (in a worker thread or inline); `onChunk` gets the rows read after each chunk. */
export async function runTask(task: CleanTask, data: DataConfig, onChunk: (rowsRead: number) => void): Promise<TaskResult> {
  const candidatesOut = new BlockWriter(task.candidatesPath);
  const quarantineOut = new BlockWriter(task.quarantinePath);
  const router = new RowRouter(data, candidatesOut, quarantineOut);
  router.startFile(task.file, task.index);
  const afterChunk = async () => {
    await Promise.all([candidatesOut.drain(), quarantineOut.drain()]);
    onChunk(router.read);
  };
  let lines = 0;
  let blankLines = 0;
  let headerSeen = true;
  try {
    if (task.file.format === 'parquet') {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      try {
        await readParquet(task.file, data, router, connection, afterChunk);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    } else {
      const reader = LINE_READERS[task.file.format](task.file, data, router);
      if (task.header !== null) reader.onLine(task.header, 0, null);
      lines = await forEachLine(task.file, task.range, reader.onLine, afterChunk);
      reader.finish();
      headerSeen = reader.headerSeen;
      blankLines = reader.blankLines;
    }
    await Promise.all([candidatesOut.close(), quarantineOut.close()]);
  } finally {
    await Promise.all([candidatesOut.abandon(), quarantineOut.abandon()]);
  }
  const { read, quarantined, droppedEmpty, droppedShort, filteredCategory, sampledOut, candidates } = router;
  return { index: task.index, read, quarantined, droppedEmpty, droppedShort, filteredCategory, sampledOut, candidates, lines, blankLines, headerSeen };
}

/** The first byte after the first newline at or after `offset` (null: none before the end). */
async function lineStartAfter(path: string, offset: number): Promise<number | null> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    for (let at = offset; ; at += buffer.length) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) return null;
      const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
      if (newline !== -1) return at + newline + 1;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Splits the work into tasks: a large uncompressed Amazon TSV into byte ranges of at least
 * RANGE_MIN_BYTES (about four per thread, so threads finish together), every other file whole.
 * Only the TSV is split: a CSV record may span lines, and JSONL rows without a review id are
 * named by their line number, which a range cannot know.
 */
async function planTasks(files: readonly InputFile[], headers: readonly (string | null)[], threads: number, workDir: string): Promise<CleanTask[]> {
  const totalBytes = files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const rangeBytes = Math.max(RANGE_MIN_BYTES, Math.ceil(totalBytes / (threads * 4)));
  const tasks: CleanTask[] = [];
  const add = (file: InputFile, range: ByteRange, header: string | null) => {
    const index = tasks.length;
    tasks.push({ index, file, range, header, candidatesPath: join(workDir, `candidates-${index}.csv`), quarantinePath: join(workDir, `quarantine-${index}.jsonl`) });
  };
  for (const [fileIndex, file] of files.entries()) {
    const header = headers[fileIndex];
    if (file.format !== 'amazon-tsv' || file.gzip || header === null || file.sizeBytes < 2 * rangeBytes) {
      add(file, { start: 0, end: null }, null);
      continue;
    }
    let start = 0;
    while (start < file.sizeBytes) {
      const end = start + rangeBytes >= file.sizeBytes ? null : await lineStartAfter(file.path, start + rangeBytes);
      add(file, { start, end }, start === 0 ? null : header);
      if (end === null) break;
      start = end;
    }
  }
  return tasks;
}

/** Where a worker thread's messages go. */
type WorkerMessage =
  | { kind: 'progress'; index: number; read: number }
  | { kind: 'done'; result: TaskResult }
  | { kind: 'failed'; invalidData: { file: string; problem: string; remedy: string } | null; message: string; stack?: string };

/**
 * Runs the tasks on up to `threads` worker threads (inline when one is enough). A worker loads
 * this module through tsx, so it runs the same code as the inline path.
 */
async function runTasks(tasks: readonly CleanTask[], data: DataConfig, threads: number, hooks: CleanHooks): Promise<TaskResult[]> {
  const readByTask = new Array<number>(tasks.length).fill(0);
  const progress = (index: number, read: number) => {
    readByTask[index] = read;
    hooks.signal?.throwIfAborted();
    hooks.onProgress?.(readByTask.reduce((sum, rows) => sum + rows, 0));
  };
  if (threads <= 1) {
    const results: TaskResult[] = [];
    for (const task of tasks) results.push(await runTask(task, data, (read) => progress(task.index, read)));
    return results;
  }
  const results: TaskResult[] = [];
  const workers: Worker[] = [];
  let next = 0;
  let onAbort = () => {};
  try {
    await new Promise<void>((resolveAll, rejectAll) => {
      const fail = (error: unknown) => rejectAll(error);
      const startNext = (worker: Worker) => {
        if (next < tasks.length) worker.postMessage(tasks[next++]);
        else if (results.length === tasks.length) resolveAll();
      };
      onAbort = () => fail(hooks.signal!.reason);
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      for (let i = 0; i < Math.min(threads, tasks.length); i += 1) {
        const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: { module: __filename, data } });
        workers.push(worker);
        worker.on('error', fail);
        worker.on('message', (message: WorkerMessage) => {
          try {
            if (message.kind === 'progress') return progress(message.index, message.read);
            if (message.kind === 'failed') {
              const { invalidData } = message;
              if (invalidData !== null) return fail(new InvalidDataError(invalidData.file, invalidData.problem, invalidData.remedy));
              return fail(Object.assign(new Error(message.message), { stack: message.stack }));
            }
            results.push(message.result);
            startNext(worker);
          } catch (error) {
            fail(error);
          }
        });
        startNext(worker);
      }
    });
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return results.sort((a, b) => a.index - b.index);
}

/** A worker thread: registers tsx (TypeScript) and serves tasks with `serveTasks` below. */
const WORKER_BOOTSTRAP = `require('tsx/cjs/api').register(); require(require('node:worker_threads').workerData.module).serveTasks();`;

/** The worker side of `runTasks`. */
export function serveTasks(): void {
  const { data } = workerData as { data: DataConfig };
  parentPort!.on('message', (task: CleanTask) => {
    runTask(task, data, (read) => parentPort!.postMessage({ kind: 'progress', index: task.index, read } satisfies WorkerMessage)).then(
      (result) => parentPort!.postMessage({ kind: 'done', result } satisfies WorkerMessage),
      (error: Error) => {
        const invalidData = error instanceof InvalidDataError ? { file: error.file, problem: error.problem, remedy: error.remedy } : null;
        parentPort!.postMessage({ kind: 'failed', invalidData, message: error.message, stack: error.stack } satisfies WorkerMessage);
      },
    );
  });
}

/**
 * Concatenates the tasks' quarantine parts into one file, turning a range's line numbers into
 * the file's (adding the lines of the ranges before it).
 */
async function mergeQuarantine(tasks: readonly CleanTask[], results: readonly TaskResult[], target: string): Promise<void> {
  const out = new BlockWriter(target);
  try {
    let offset = 0;
    for (const [i, task] of tasks.entries()) {
      offset = task.range.start === 0 ? 0 : offset;
      for await (const line of createInterface({ input: createReadStream(task.quarantinePath), crlfDelay: Infinity })) {
        if (offset === 0) out.write(`${line}\n`);
        else {
          const entry = JSON.parse(line) as { line: number };
          out.write(`${JSON.stringify({ ...entry, line: entry.line + offset })}\n`);
        }
        await out.drain();
      }
      offset += results[i].lines;
    }
    await out.close();
  } finally {
    await out.abandon();
  }
}

interface FileReport {
  path: string;
  format: FileFormat;
  gzip: boolean;
  sizeBytes: number;
  mtime: string;
  rowsRead: number;
  blankLines: number;
}

/**
 * Dedupes the candidates by review id (the first in (task, line) order wins) into `target`;
 * returns the candidate rows DuckDB read and the rows written.
 */
async function writeDeduped(
  connection: DuckDBConnection,
  candidatePaths: readonly string[],
  maxFieldChars: number,
  target: string,
): Promise<{ candidates: number; kept: number }> {
  // A candidate line holds four fields of at most maxFieldChars characters (4 UTF-8 bytes each).
  // DuckDB's default 32 MB read buffer per thread is most of its memory here: 8 MB suffices.
  const maxLineBytes = Math.max(2 * 1024 * 1024, 16 * maxFieldChars + 1024);
  const bufferBytes = Math.max(8 * 1024 * 1024, maxLineBytes);
  await connection.run(
    `CREATE VIEW candidates AS SELECT * FROM read_csv([${candidatePaths.map(sqlString).join(', ')}], header = false, delim = ',', quote = '"', escape = '"',
       new_line = '\\n', allow_quoted_nulls = false, strict_mode = true, max_line_size = ${maxLineBytes}, buffer_size = ${bufferBytes},
       columns = {'seq': 'BIGINT', 'review_id': 'VARCHAR', 'product_id': 'VARCHAR', 'text': 'VARCHAR', 'summary': 'VARCHAR', 'star_rating': 'INTEGER'})`,
  );
  // Two passes keep memory small at any size: duplicates are found among 8-byte hashes of the
  // ids (not the ids themselves), then settled exactly among the few rows whose hash repeats.
  await connection.run(`CREATE TABLE repeated_hashes AS SELECT hash(review_id) AS h FROM candidates GROUP BY h HAVING count(*) > 1`);
  await connection.run(
    `CREATE TABLE repeated AS SELECT review_id, min(seq) AS first_seq, count(*) AS copies FROM candidates
       WHERE hash(review_id) IN (SELECT h FROM repeated_hashes) GROUP BY review_id HAVING count(*) > 1`,
  );
  await connection.run(
    `COPY (SELECT c.review_id, c.product_id, c.text, c.summary, c.star_rating FROM candidates c
             ANTI JOIN repeated r ON c.review_id = r.review_id AND c.seq <> r.first_seq)
       TO ${sqlString(target)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  // Rows DuckDB parsed = kept + later copies: no further scan of the candidates needed.
  const counted = await connection.runAndReadAll(
    `SELECT (SELECT coalesce(sum(copies - 1), 0) FROM repeated) AS deduped, (SELECT count(*) FROM read_parquet(${sqlString(target)})) AS kept`,
  );
  const [row] = counted.getRowObjectsJS() as [{ deduped: bigint; kept: bigint }];
  return { candidates: Number(row.kept + row.deduped), kept: Number(row.kept) };
}

/**
 * Cleans `config.data.input` into `<storage.root>/<pipelineId>/clean/` in this process: the
 * plan's tasks on worker threads, then the merge. The pipeline runs the same three parts as
 * activities instead (planClean, cleanShard on any number of CPU workers, mergeClean).
 */
export async function clean(input: StepInput, hooks: CleanHooks = {}): Promise<CleanResult> {
  const plan = await planClean(input);
  try {
    const results = await runTasks(plan.tasks, input.config.data, Math.min(plan.threads, plan.tasks.length), hooks);
    hooks.signal?.throwIfAborted();
    return await mergeClean({ ...input, plan, results });
  } catch (error) {
    // In one process nothing reuses the parts of a failed run (the activities' cache is per shard).
    await rm(shardDir(await ensureStepDir(input.config, input.pipelineId, 'clean')), { recursive: true, force: true });
    throw error;
  }
}

/** The folder of the tasks' parts (candidates, quarantine lines, cached results) until the merge. */
const shardDir = (outDir: string) => join(outDir, 'shards');

/**
 * Resolves and probes the input (whole-file faults fail here, before any row is processed) and
 * cuts it into tasks whose parts go under `clean/shards/`.
 */
export async function planClean(input: StepInput): Promise<CleanPlan> {
  const startedAt = new Date().toISOString();
  const data = input.config.data;
  const { files, skipped } = await resolveInput(data);
  const outDir = await ensureStepDir(input.config, input.pipelineId, 'clean');
  // The manifest marks a finished step: remove an earlier run's before touching its outputs.
  await rm(join(outDir, 'manifest.json'), { force: true });
  await mkdir(shardDir(outDir), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const headers: (string | null)[] = [];
    for (const file of files) headers.push(await probe(file, data, connection));
    // Starting a worker thread costs about a second (tsx compiles this module again): by default
    // small inputs run inline, and larger ones get a thread per RANGE_MIN_BYTES up to one per CPU.
    const totalBytes = files.reduce((total, file) => total + file.sizeBytes, 0);
    const threads = data.threads ?? Math.min(availableParallelism(), Math.ceil(totalBytes / RANGE_MIN_BYTES));
    const tasks = await planTasks(files, headers, threads, shardDir(outDir));
    return { files, skipped, tasks, threads: Math.max(threads, 1), startedAt };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const CachedTaskResult = z.object({ key: z.string(), result: CleanTaskResult });

/**
 * One task as an activity. Its result is cached next to its parts, keyed by the data config, the
 * file (size, mtime) and the range: a retried pipeline step skips the shards already done.
 */
export async function cleanShard(input: CleanShardInput, hooks: CleanHooks = {}): Promise<CleanTaskResult> {
  const { task } = input;
  const data = input.config.data;
  const resultPath = `${task.candidatesPath}.result.json`;
  const key = configHash({ data, file: task.file, range: task.range, header: task.header });
  try {
    const cached = CachedTaskResult.parse(JSON.parse(await readFile(resultPath, 'utf8')));
    if (cached.key === key) return cached.result;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // A large shard runs on a worker thread, so the shards a worker runs at once use its CPUs.
  const bytes = (task.range.end ?? task.file.sizeBytes) - task.range.start;
  const [result] = await runTasks([task], data, bytes >= RANGE_MIN_BYTES ? 2 : 1, hooks);
  hooks.signal?.throwIfAborted();
  await writeFileAtomic(resultPath, JSON.stringify({ key, result } satisfies z.infer<typeof CachedTaskResult>));
  return result;
}

/**
 * Merges the tasks' parts: quarantine lines in file order, candidates deduped by review id into
 * `cleaned.parquet`, the row equation checked, the manifest written last; the parts are removed.
 */
export async function mergeClean(input: MergeCleanInput): Promise<CleanResult> {
  const { plan } = input;
  const { files, skipped, tasks, threads } = plan;
  const results = [...input.results].sort((a, b) => a.index - b.index);
  if (results.map((result) => result.index).join() !== tasks.map((task) => task.index).join()) {
    throw new Error(`clean: merge got results for tasks [${results.map((r) => r.index)}] of a plan with ${tasks.length} tasks; run every shard first`);
  }
  const started = performance.now();
  const data = input.config.data;
  const outDir = await ensureStepDir(input.config, input.pipelineId, 'clean');
  const manifestPath = join(outDir, 'manifest.json');
  // planClean removed any earlier manifest: one here is this plan's, from a merge whose activity
  // was lost after it finished (its parts are gone), so its result stands.
  const done = await finishedClean(manifestPath);
  if (done !== null) return done;
  const cleanedPath = join(outDir, 'cleaned.parquet');
  const quarantinePath = join(outDir, 'quarantine.jsonl');
  const cleanedTemp = tempPathFor(cleanedPath);
  const quarantineTemp = tempPathFor(quarantinePath);
  // DuckDB's database and what it spills live here, not in the worker's cwd.
  const workDir = tempPathFor(join(outDir, 'work'));

  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const mergeThreads = Math.min(availableParallelism(), MERGE_MAX_THREADS);
  const instance = await DuckDBInstance.create(join(workDir, 'clean.duckdb'), {
    threads: String(mergeThreads),
    memory_limit: `${mergeMemoryLimitMB(mergeThreads)}MB`,
    temp_directory: join(workDir, 'spill'),
    // The output's row order is not promised; keeping it would buffer rows in memory.
    preserve_insertion_order: 'false',
  });
  const connection = await instance.connect();
  try {
    const reports: FileReport[] = files.map(({ path, format, gzip, sizeBytes, mtime }) => ({ path, format, gzip, sizeBytes, mtime, rowsRead: 0, blankLines: 0 }));
    for (const [i, task] of tasks.entries()) {
      const report = reports[files.findIndex((file) => file.path === task.file.path)];
      if (task.range.start === 0 && !results[i].headerSeen) throw noHeader(task.file);
      report.rowsRead += results[i].read;
      report.blankLines += results[i].blankLines;
    }
    const empty = files.find((_, i) => reports[i].rowsRead === 0);
    if (empty !== undefined) throw noRows(empty);
    await mergeQuarantine(tasks, results, quarantineTemp);

    const sum = (key: keyof TaskResult) => results.reduce((total, result) => total + (result[key] as number), 0);
    const candidates = sum('candidates');
    const inputs = files.length === 1 ? files[0].path : `${resolveFromRepo(data.input)} (${files.length} files)`;
    // DuckDB cannot read an empty CSV with a schema; no candidates is reported below as no rows left.
    const written = candidates === 0 ? { candidates: 0, kept: 0 } : await writeDeduped(connection, tasks.map((task) => task.candidatesPath), data.maxFieldChars, cleanedTemp);
    if (written.candidates !== candidates) {
      throw new Error(
        `clean: ${candidates} candidate rows were written for ${inputs} but DuckDB read back ${written.candidates}; this is a bug in activities/clean.ts (CSV quoting)`,
      );
    }
    const [droppedEmpty, droppedShort, filteredCategory] = [sum('droppedEmpty'), sum('droppedShort'), sum('filteredCategory')];
    const counts: CleanCounts = {
      read: sum('read'),
      kept: written.kept,
      droppedByRule: droppedEmpty + droppedShort + filteredCategory,
      droppedEmpty,
      droppedShort,
      filteredCategory,
      sampledOut: sum('sampledOut'),
      quarantined: sum('quarantined'),
      deduped: written.candidates - written.kept,
    };
    assertRowsAddUp(counts, inputs);

    await rename(quarantineTemp, quarantinePath);
    if (counts.kept === 0) {
      throw new InvalidDataError(
        inputs,
        `no rows left after cleaning (${JSON.stringify(counts)}; malformed rows are in ${quarantinePath})`,
        'Check data.category, data.sampleFraction, data.minTextWords, data.columns and data.format against the input',
      );
    }
    await rename(cleanedTemp, cleanedPath);
    const finished = performance.now();
    const seconds = (Date.now() - Date.parse(plan.startedAt)) / 1000;
    const totalBytes = files.reduce((total, file) => total + file.sizeBytes, 0);
    await writeFileAtomic(
      manifestPath,
      JSON.stringify(
        {
          step: 'clean',
          pipelineId: input.pipelineId,
          // `newest` keeps the pattern next to the file it chose, so the manifest says what was picked from what.
          input: files.length === 1 && data.select === 'all' ? reports[0] : { pattern: data.input, select: data.select, files: reports, skipped },
          configHash: configHash(data),
          config: data,
          counts,
          tasks: tasks.length,
          threads: Math.min(threads, tasks.length),
          timings: {
            startedAt: plan.startedAt,
            finishedAt: new Date().toISOString(),
            readSeconds: seconds - (finished - started) / 1000,
            writeSeconds: (finished - started) / 1000,
            seconds,
            rowsPerSecond: Math.round(counts.read / seconds),
            inputMegabytesPerSecond: totalBytes / 1e6 / seconds,
          },
          outputs: { cleaned: { path: cleanedPath, rows: counts.kept }, quarantine: { path: quarantinePath, rows: counts.quarantined } },
        },
        null,
        2,
      ) + '\n',
    );
    await rm(shardDir(outDir), { recursive: true, force: true });
    return { cleanedPath, quarantinePath, counts };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await Promise.all([cleanedTemp, quarantineTemp, workDir].map((path) => rm(path, { recursive: true, force: true })));
  }
}

const FinishedManifest = z.object({
  counts: CleanCounts,
  outputs: z.object({ cleaned: z.object({ path: z.string() }), quarantine: z.object({ path: z.string() }) }),
});

async function finishedClean(manifestPath: string): Promise<CleanResult | null> {
  try {
    const { counts, outputs } = FinishedManifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    return { cleanedPath: outputs.cleaned.path, quarantinePath: outputs.quarantine.path, counts };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** `read = kept + droppedByRule + quarantined + deduped + sampledOut`, or the step fails. */
export function assertRowsAddUp(counts: CleanCounts, inputs: string): void {
  const accounted = counts.kept + counts.droppedByRule + counts.quarantined + counts.deduped + counts.sampledOut;
  const rules = counts.droppedEmpty + counts.droppedShort + counts.filteredCategory;
  if (accounted !== counts.read || rules !== counts.droppedByRule) {
    throw new Error(
      `clean: row accounting failed for ${inputs}: read ${counts.read} != kept + droppedByRule + quarantined + deduped + sampledOut = ${accounted} ` +
        `(or droppedByRule ${counts.droppedByRule} != its rules ${rules}); counts ${JSON.stringify(counts)}. No output was published; this is a bug in activities/clean.ts`,
    );
  }
}
