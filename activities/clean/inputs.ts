/**
 * The clean step's inputs, and every whole-file check. `data.input` (a file, a folder or a glob)
 * resolves to a sorted list of files, each with its format; `probe` looks at each file's head
 * before any row is processed, so whole-file faults (empty, no header, missing columns, header
 * only, corrupt gzip, unreadable Parquet) fail the plan. What the head cannot show (a file with
 * no rows beyond it) `checkFilesRead` settles from the tasks' counts before the merge publishes.
 * A header line with a NUL byte marks a binary file here; its other byte faults (invalid UTF-8,
 * too long) are judged by the task reading it, with the line reader's faults (columns.ts
 * `headerFault`). With `data.header: false` a CSV or TSV
 * has no header to check: its columns are data.columns' positions.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { resolveFromRepo, sqlString } from '../../lib/artifacts';
import type { FileFormat, PipelineConfig } from '../../lib/config';
import { InvalidDataError } from '../../lib/failures';
import type { CleanPlan, CleanTask, CleanTaskResult, InputFile } from '../../lib/steps';
import { fileColumns, locateColumns, type FileColumns } from './columns';
import { parseCsvRecord } from './formats/csv';
import { parquetColumns } from './formats/parquet';
import { gzipError } from './lines';

export type DataConfig = PipelineConfig['data'];

export type ResolvedInput = Pick<CleanPlan, 'files' | 'skipped'>;

const EXTENSIONS: ReadonlyArray<[string, FileFormat]> = [
  ['.tsv', 'amazon-tsv'],
  ['.tsv.gz', 'amazon-tsv'],
  ['.csv', 'csv'],
  ['.csv.gz', 'csv'],
  ['.jsonl', 'jsonl'],
  ['.jsonl.gz', 'jsonl'],
  ['.ndjson', 'jsonl'],
  ['.ndjson.gz', 'jsonl'],
  ['.parquet', 'parquet'],
];

function formatFromName(file: string): FileFormat | null {
  const name = file.toLowerCase();
  return EXTENSIONS.find(([suffix]) => name.endsWith(suffix))?.[1] ?? null;
}

const KNOWN_EXTENSIONS = EXTENSIONS.map(([suffix]) => suffix).join(', ');
const GLOB_CHARS = /[*?[{]/;

/**
 * A glob as a RegExp over `/`-separated relative paths: `*` and `?` stay within a folder, `**`
 * crosses folders, `[...]` is a character class, `{a,b}` an alternation.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i += 1) {
    const char = glob[i];
    if (char === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) source += '\\[';
      else {
        const body = glob.slice(i + 1, close);
        source += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else if (char === '{') {
      braces += 1;
      source += '(?:';
    } else if (char === '}' && braces > 0) {
      braces -= 1;
      source += ')';
    } else if (char === ',' && braces > 0) source += '|';
    else source += char.replace(/[.+^$()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Regular files under `dir`, as sorted `/`-separated paths relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

async function describe(path: string, name: string, configured: DataConfig['format']): Promise<InputFile> {
  const info = await stat(path);
  if (info.size === 0) throw new InvalidDataError(path, 'the input file is empty', 'Regenerate or re-download it, or remove it from the input');
  const format = configured === 'auto' ? formatFromName(path) : configured;
  if (format === null) {
    throw new InvalidDataError(
      path,
      'format "auto" cannot tell the format from the extension',
      `Name the file with one of ${KNOWN_EXTENSIONS}, or set data.format to amazon-tsv, csv, jsonl or parquet`,
    );
  }
  const handle = await open(path, 'r');
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, 0);
    return { path, format, gzip: magic[0] === 0x1f && magic[1] === 0x8b, sizeBytes: info.size, mtime: info.mtime.toISOString(), name };
  } finally {
    await handle.close();
  }
}

const INPUT_HINT =
  'Check data.input: a file, a folder or a glob (a relative path resolves against the repository root); for the demo run `bin/ts-run scripts/generate-reviews.ts --out data/demo/camera_reviews.tsv.gz`';

/**
 * Resolves `data.input` to its files, sorted by path (the order that decides which duplicate is
 * kept); with `data.select: newest`, to the most recently modified one.
 */
export async function resolveInput(data: DataConfig): Promise<ResolvedInput> {
  const resolved = await resolveAllInputs(data);
  if (data.select === 'all' || resolved.files.length <= 1) return resolved;
  // Ties (same mtime) go to the last path: data drops are usually named by date.
  const newest = resolved.files.reduce((best, file) => (file.mtime >= best.mtime ? file : best));
  return { ...resolved, files: [newest] };
}

async function resolveAllInputs(data: DataConfig): Promise<ResolvedInput> {
  const input = resolveFromRepo(data.input);
  if (GLOB_CHARS.test(input)) {
    const segments = input.split('/');
    const firstGlob = segments.findIndex((segment) => GLOB_CHARS.test(segment));
    const base = segments.slice(0, firstGlob).join('/') || '/';
    const pattern = globToRegExp(segments.slice(firstGlob).join('/'));
    const names = await listFiles(base).catch(() => [] as string[]);
    const matched = names.filter((name) => pattern.test(name));
    if (matched.length === 0) throw new InvalidDataError(input, 'the glob matches no file', INPUT_HINT);
    return { files: await Promise.all(matched.map((name) => describe(join(base, name), name, data.format))), skipped: [] };
  }
  let info;
  try {
    info = await stat(input);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidDataError(
      input,
      code === 'ENOENT' ? 'the input file does not exist' : `the input cannot be read (${code ?? String(error)})`,
      INPUT_HINT,
    );
  }
  if (info.isDirectory()) {
    const names = await listFiles(input);
    const known = names.filter((name) => formatFromName(name) !== null);
    if (known.length === 0) throw new InvalidDataError(input, `the folder holds no input file (none named ${KNOWN_EXTENSIONS})`, INPUT_HINT);
    return {
      files: await Promise.all(known.map((name) => describe(join(input, name), name, data.format))),
      skipped: names.filter((name) => formatFromName(name) === null).map((name) => join(input, name)),
    };
  }
  if (!info.isFile()) throw new InvalidDataError(input, 'the input is neither a regular file nor a folder', INPUT_HINT);
  return { files: [await describe(input, relative(dirname(input), input), data.format)], skipped: [] };
}

/** The first `maxBytes` (decompressed) of a file, and whether that is all of it. */
async function readHead(file: InputFile, maxBytes: number): Promise<{ head: Buffer; complete: boolean }> {
  const source = createReadStream(file.path, { highWaterMark: 64 * 1024 });
  const input = file.gzip ? source.pipe(createGunzip()) : source;
  if (file.gzip) source.on('error', (error) => input.destroy(error));
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size > maxBytes) return { head: Buffer.concat(parts).subarray(0, maxBytes), complete: false };
    }
  } catch (error) {
    throw gzipError(file, error, null);
  } finally {
    source.destroy();
    input.destroy();
  }
  return { head: Buffer.concat(parts), complete: true };
}

/** How much of each file is looked at before the run (enough for any header and a first row). */
const PROBE_BYTES = 1024 * 1024;

const noHeader = (file: InputFile) =>
  new InvalidDataError(file.path, 'the input has no header line', 'Check that the file is the format data.format names (the header comes first)');
const noRows = (file: InputFile, header: boolean) =>
  new InvalidDataError(file.path, header ? 'the input has a header but no data rows' : 'the input has no rows', 'Point data.input at files with reviews, or remove this one');

/**
 * Fails on what a file's head already shows: no header, missing columns, no rows (when the head
 * is the whole file), a truncated gzip head, an unreadable Parquet file. Returns where the file
 * keeps each field (`header` null for JSONL, and for a header the head does not hold whole).
 */
export async function probe(file: InputFile, data: DataConfig, connection: DuckDBConnection): Promise<FileColumns> {
  // The config refuses header false with data.format jsonl or parquet; with auto it shows here.
  if (!data.header && (file.format === 'jsonl' || file.format === 'parquet')) {
    throw new InvalidDataError(
      file.path,
      `data.header false applies to CSV and TSV files only, and this file is ${file.format} (its fields are named)`,
      'Clean headerless CSV or TSV files on their own (data.input naming only them), or remove data.header for this input',
    );
  }
  if (file.format === 'parquet') {
    const columns = fileColumns(file, await parquetColumns(file, connection), data);
    const counted = await connection.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(file.path)})`);
    if (Number(counted.getRowObjectsJS()[0].n) === 0) throw noRows(file, true);
    return columns;
  }
  const { head, complete } = await readHead(file, PROBE_BYTES);
  // A header line with a NUL byte is no header: the file is binary (an image, an archive, gzip
  // under another name). A NUL further on is one row's fault, quarantined with it.
  const firstLineEnd = head.indexOf(0x0a);
  const nul = data.header && file.format !== 'jsonl' ? head.subarray(0, firstLineEnd === -1 ? 4096 : firstLineEnd).indexOf(0) : -1;
  if (nul !== -1) {
    throw new InvalidDataError(
      file.path,
      `it is not a text file (a NUL byte at offset ${nul}${file.gzip ? ' of its decompressed data' : ''}, in what should be its header line)`,
      'Check that data.input names the review files themselves, and that a compressed file ends in .gz',
    );
  }
  const lines = head.toString('utf8').replace(/^\ufeff/, '').split('\n');
  // The last piece of an incomplete head may be a cut line: only whole lines are judged.
  const whole = complete ? lines : lines.slice(0, -1);
  const nonBlank = whole.filter((line) => line.replace(/\r$/, '').trim() !== '');
  if (file.format === 'jsonl') {
    if (complete && nonBlank.length === 0) throw noRows(file, false);
    let first: unknown;
    try {
      first = JSON.parse(nonBlank[0] ?? '');
    } catch {
      return fileColumns(file, null, data); // a malformed first line is the row's fault (quarantined), not the file's
    }
    // Each row is an object read by key: the first one shows whether the keys are there.
    if (typeof first === 'object' && first !== null && !Array.isArray(first)) locateColumns(file, Object.keys(first), data);
    return fileColumns(file, null, data);
  }
  if (!data.header) {
    if (complete && nonBlank.length === 0) throw noRows(file, false);
    return fileColumns(file, null, data); // every line is a row: the fields' places come from data.columns
  }
  if (complete && head.length === 0) throw noHeader(file);
  if (whole.length === 0) return fileColumns(file, null, data); // a header longer than the probe: the task reads it
  const headerLine = whole[0].replace(/\r$/, '');
  const header = file.format === 'csv' ? parseCsvRecord(headerLine) : headerLine.split('\t');
  // A CSV header that is not one whole record (a quoted line break) is read by its task.
  const columns = fileColumns(file, Array.isArray(header) ? header : null, data);
  if (complete && nonBlank.length <= 1) throw noRows(file, true);
  return columns;
}

/** The whole-file checks that need the file read: a header (when the head did not show it) and a data row. */
export function checkFilesRead(files: readonly InputFile[], tasks: readonly CleanTask[], results: readonly CleanTaskResult[], data: DataConfig): void {
  for (const [i, task] of tasks.entries()) if (task.range.start === 0 && !results[i].headerSeen) throw noHeader(task.file);
  const empty = files.find((file) => tasks.every((task, i) => task.file.path !== file.path || results[i].read === 0));
  if (empty !== undefined) throw noRows(empty, data.header && empty.format !== 'jsonl');
}
