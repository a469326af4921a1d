/**
 * Field mapping: which input column holds each field clean reads, and the header faults (missing
 * columns, an unreadable header line). The plan works out each file's columns once
 * (`fileColumns`) and carries them on its tasks.
 */
import { ColumnMapping, type FileFormat } from '../../lib/config';
import { InvalidDataError } from '../../lib/failures';
import type { CleanTask, InputFile } from '../../lib/steps';
import type { DataConfig } from './inputs';

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

/** The fields clean reads; `data.columns` maps each to an input column. */
export const FIELDS = ColumnMapping.keyof().options;
export type Field = (typeof FIELDS)[number];

/** Where a task's file keeps each field (see CleanTask). */
export type FileColumns = CleanTask['columns'];
/** Each field's position in a header (-1: absent), and the header's width. */
export type HeaderColumns = NonNullable<FileColumns['header']>;
type ColumnNames = FileColumns['names'];

const AMAZON_COLUMNS: ColumnNames = {
  text: 'review_body',
  summary: 'review_headline',
  productId: 'product_id',
  reviewId: 'review_id',
  category: 'product_category',
  rating: 'star_rating',
};
const PLAIN_COLUMNS: ColumnNames = {
  text: 'text',
  summary: 'summary',
  productId: 'product_id',
  reviewId: 'review_id',
  category: 'product_category',
  rating: 'star_rating',
};

/** The column of each field, and the fields whose column must exist in every file (with a header). */
function columnsFor(format: FileFormat, data: DataConfig): { names: ColumnNames; required: Field[] } {
  if (!data.header) {
    // Named by position for quarantine reasons; a field without a position is not read ('').
    const names = Object.fromEntries(FIELDS.map((field) => [field, data.columns[field] === undefined ? '' : `column ${data.columns[field]}`])) as ColumnNames;
    return { names, required: [] };
  }
  // The config refuses positions with a header: every mapped column is a name here.
  const names = { ...(format === 'amazon-tsv' ? AMAZON_COLUMNS : PLAIN_COLUMNS), ...(data.columns as Partial<ColumnNames>) };
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

/** A number, a date or a time: what a row holds and a header line does not. */
const NUMBER_LIKE = /^[-+]?\d[\d.,:/ T-]*$/;

/**
 * Whether a first line without any of the mapped columns is a row rather than a header: some
 * field is a number or longer than a column name would be. Only a hint in the error message.
 */
function looksLikeRow(header: readonly string[]): boolean {
  return header.some((name) => NUMBER_LIKE.test(name.trim()) || name.length > 40);
}

/** Where each field sits in `header` (the file's column names); throws naming the missing required columns. */
export function locateColumns(file: InputFile, header: readonly string[], data: DataConfig): HeaderColumns {
  const { names, required } = columnsFor(file.format, data);
  const index = new Map(header.map((name, i) => [name.trim(), i]));
  const missing = required.filter((field) => !index.has(names[field]));
  if (missing.length > 0) {
    const columns = missing.map((field) => `${names[field]} (${field})`).join(', ');
    const found = `found: ${header.join(', ').slice(0, 300)}`;
    if (missing.length === required.length && looksLikeRow(header)) {
      throw new InvalidDataError(
        file.path,
        `the header lacks column(s) ${columns}, and its first line looks like a row, not a header (${found})`,
        'If the file has no header line, set data.header: false and give each field\'s column by position in data.columns (text: 1 is the first column); otherwise map the fields to its header\'s names with data.columns',
      );
    }
    throw new InvalidDataError(
      file.path,
      `the header lacks column(s) ${columns}; ${found}`,
      'Map the fields to this file\'s columns with data.columns (text, summary, productId, reviewId, category, rating), or check data.format',
    );
  }
  return { width: header.length, at: Object.fromEntries(FIELDS.map((field) => [field, index.get(names[field]) ?? -1])) as HeaderColumns['at'] };
}

/**
 * Without a header the fields' places come from the config alone: each field's 0-based position
 * (-1: not read), and as `width` the fewest fields a row must have (the highest position).
 */
function positionalColumns(data: DataConfig): HeaderColumns {
  const at = Object.fromEntries(FIELDS.map((field) => [field, typeof data.columns[field] === 'number' ? data.columns[field] - 1 : -1])) as HeaderColumns['at'];
  return { width: Math.max(...Object.values(at)) + 1, at };
}

/**
 * A file's columns: the names always, the positions when its header is known (null: JSONL, or
 * not yet read) or there is none (`data.header: false`).
 */
export function fileColumns(file: InputFile, header: readonly string[] | null, data: DataConfig): FileColumns {
  const { names } = columnsFor(file.format, data);
  if (!data.header) return { names, header: positionalColumns(data) };
  return { names, header: header === null ? null : locateColumns(file, header, data) };
}

/** A line fault (NUL byte, invalid UTF-8, too long) in the header line fails the whole file. */
export function headerFault(file: InputFile, fault: string): never {
  throw new InvalidDataError(file.path, `the header line is unreadable (${fault})`, 'Check that the file is the format data.format names');
}
