/**
 * Amazon Customer Reviews TSV: a header, then one review per line, 15 tab-separated columns. With
 * `data.header: false` every line is a review, its fields placed by data.columns' positions.
 */
import type { CleanTask } from '../../../lib/steps';
import { headerFault, locateColumns, type HeaderColumns } from '../columns';
import type { DataConfig } from '../inputs';
import type { LineReader } from '../lines';
import { columnCountFault, type RowRouter } from '../rows';

/** Field `column` of a TSV line whose field starts are `starts` (a module function: no closure per line). */
function tsvField(text: string, starts: Int32Array, column: number): string | null {
  return column === -1 ? null : text.slice(starts[column], starts[column + 1] - 1);
}

/** Reads one task's lines: the header line (when the range starts the file and has one), then one review per line. */
export function tsvReader(task: CleanTask, router: RowRouter, data: DataConfig): LineReader {
  const { file } = task;
  // A range that does not start the file, or a file without a header, has no header line: its columns come from the plan.
  let { at, width }: { at: HeaderColumns['at'] | null; width: number } =
    task.range.start === 0 && data.header ? { at: null, width: 0 } : task.columns.header!;
  /** Without a header `width` is the fewest fields a row needs (the highest mapped position); more are allowed. */
  const exact = data.header;
  /** Where each field of the current line starts (index `width`: one past the end, plus one). */
  let starts = new Int32Array(width + 1);
  let blankLines = 0;
  return {
    onLine(text, line, fault) {
      if (at === null) {
        if (fault !== null) headerFault(file, fault);
        // From the plan; read here only when the plan's look at the file's head did not hold it.
        ({ at, width } = task.columns.header ?? locateColumns(file, text.split('\t'), data));
        starts = new Int32Array(width + 1);
        return;
      }
      if (text === '' && fault === null) {
        blankLines += 1;
        return;
      }
      if (fault !== null) return router.quarantine(line, fault, text);
      // Tab positions, not text.split('\t'): only 6 of the 15 fields are needed as strings.
      let count = 1;
      for (let tab = text.indexOf('\t'); tab !== -1; tab = text.indexOf('\t', tab + 1)) {
        if (count <= width) starts[count] = tab + 1;
        count += 1;
      }
      if (exact ? count !== width : count < width) return router.quarantine(line, columnCountFault(width, exact, count, 'tab'), text);
      // With more fields than needed (no header), field `width` already starts after its tab.
      if (count === width) starts[width] = text.length + 1;
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
