/**
 * Where each row goes: RowRouter applies the checks and rules to a row and counts it in exactly
 * one place (quarantined, dropped by a rule, sampled out, or a candidate for the merge's dedupe);
 * BlockWriter writes the task's parts (candidate CSV, quarantine lines) in large blocks.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { cleanerFor, countWords, hashFraction } from '../../lib/cleaning';
import type { CleanTask, InputFile } from '../../lib/steps';
import { FIELDS, type Field, type FileColumns } from './columns';
import type { DataConfig } from './inputs';
import { QUARANTINE_RAW_CHARS } from './lines';

/** Output is written in blocks of about this many characters. */
const FLUSH_CHARS = 1024 * 1024;
/** Line numbers of a task fit below this, so (task index, line) is one sortable BIGINT. */
const LINES_PER_TASK = 2 ** 32;

/** One row's fields as read (null: the column is absent, or the JSON field missing or null). */
export type RowFields = Record<Field, string | null>;

/** Appends CSV text to a file in large blocks; `drain()` between input chunks applies backpressure. */
export class BlockWriter {
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

/**
 * Why a row with the wrong number of fields is quarantined: with a header it must have the
 * header's `width`; without one, at least `width` (the highest position data.columns maps).
 */
export function columnCountFault(width: number, exact: boolean, found: number, separator: 'tab' | 'comma'): string {
  return exact
    ? `expected ${width} ${separator}-separated columns, found ${found}`
    : `expected at least ${width} ${separator}-separated columns (data.columns maps column ${width}), found ${found}`;
}

/** Applies checks and rules to each row and counts where it went. */
export class RowRouter {
  read = 0;
  quarantined = 0;
  droppedEmpty = 0;
  droppedShort = 0;
  filteredCategory = 0;
  sampledOut = 0;
  candidates = 0;
  private readonly file: InputFile;
  /** The task's index orders the tasks of one run as (file, byte range): the first copy of a review wins. */
  private readonly taskIndex: number;
  /** The file's column names, for quarantine reasons. */
  private readonly columns: FileColumns['names'];
  private readonly clean: (text: string, maxWords: number) => string;

  constructor(
    private readonly data: DataConfig,
    task: CleanTask,
    private readonly candidatesOut: BlockWriter,
    private readonly quarantineOut: BlockWriter,
  ) {
    this.file = task.file;
    this.taskIndex = task.index;
    this.columns = task.columns.names;
    this.clean = cleanerFor(data.cleaning);
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
    const seq = this.taskIndex * LINES_PER_TASK + line;
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
