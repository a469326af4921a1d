/**
 * CSV (RFC 4180) with a header line, or without one (`data.header: false`: fields placed by
 * data.columns' positions). A record may span lines (a quoted field with line breaks), so a CSV
 * file is one task, never split into byte ranges.
 */
import { InvalidDataError } from '../../../lib/failures';
import type { CleanTask, InputFile } from '../../../lib/steps';
import { headerFault, locateColumns, type HeaderColumns } from '../columns';
import type { DataConfig } from '../inputs';
import type { LineHandler, LineReader } from '../lines';
import { columnCountFault, type RowFields, type RowRouter } from '../rows';

/** An unterminated quote would otherwise swallow the rest of a CSV file into one record. */
const MAX_CSV_RECORD_LINES = 1000;

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

/** The columns of a header record; throws when it is not a CSV record. */
function headerColumns(file: InputFile, record: string, data: DataConfig): HeaderColumns {
  const header = parseCsvRecord(record);
  if (!Array.isArray(header)) throw new InvalidDataError(file.path, `the header line is malformed (${header.reason})`, 'Check that the file is a CSV with a header line');
  return locateColumns(file, header, data);
}

function fieldsAt(values: readonly string[], at: HeaderColumns['at']): RowFields {
  return {
    text: at.text === -1 ? null : values[at.text],
    summary: at.summary === -1 ? null : values[at.summary],
    productId: at.productId === -1 ? null : values[at.productId],
    reviewId: at.reviewId === -1 ? null : values[at.reviewId],
    category: at.category === -1 ? null : values[at.category],
    rating: at.rating === -1 ? null : values[at.rating],
  };
}

/**
 * CSV with a header; lines are joined into one record while a quote is open. A quote that never
 * closes (by the end of the file or within MAX_CSV_RECORD_LINES lines) quarantines its first line
 * only: the lines it swallowed are read again as records of their own, so they are not lost.
 */
export function csvReader(task: CleanTask, router: RowRouter, data: DataConfig): LineReader {
  const { file } = task;
  /** From the plan; read here only when the plan's look at the file's head did not hold the header. */
  let columns = task.columns.header;
  /** Without a header the first record is a row; its columns came with the plan. */
  let headerSeen = !data.header;
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
    if (!headerSeen) {
      if (fault !== null) headerFault(file, fault);
      columns ??= headerColumns(file, record, data);
      headerSeen = true;
      return;
    }
    const { width, at } = columns!;
    if (unterminated) {
      router.quarantine(line, `unbalanced quotes: a quoted field is not closed (by the end of the file or within ${MAX_CSV_RECORD_LINES} lines)`, lines[0].text);
      // A record opened while replaying may go on in lines not read yet: it stays pending.
      for (const part of lines.slice(1)) onLine(part.text, part.line, part.fault);
      return;
    }
    if (fault !== null) return router.quarantine(line, fault, record);
    const values = parseCsvRecord(record);
    if (!Array.isArray(values)) return router.quarantine(line, values.reason, record);
    if (data.header ? values.length !== width : values.length < width) {
      return router.quarantine(line, columnCountFault(width, data.header, values.length, 'comma'), record);
    }
    router.row(line, fieldsAt(values, at), record);
  };

  const onLine: LineHandler = (text, line, fault) => {
    if (pending.length === 0) {
      if (text === '' && fault === null) {
        if (headerSeen) blankLines += 1;
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
      return headerSeen;
    },
    get blankLines() {
      return blankLines;
    },
  };
}
