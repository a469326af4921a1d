/** JSON Lines (also `.ndjson`): one object per line, no header; a row's fields are its keys. */
import type { CleanTask } from '../../../lib/steps';
import { FIELDS } from '../columns';
import type { LineReader } from '../lines';
import type { RowFields, RowRouter } from '../rows';

/** A JSON field as text: strings as they are, numbers and booleans written out, null absent. */
function jsonField(value: unknown): string | null | { reason: string } {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return { reason: 'is not a string or number' };
}

/** JSON Lines: one object per line; the mapped fields are its keys. */
export function jsonlReader(task: CleanTask, router: RowRouter): LineReader {
  const { names } = task.columns;
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
