/** `tuneflow compare` as text: the seed's closing table, one row per pipeline, then the baselines. */
import type { Comparison, ComparisonRow } from '../compare';
import { formatDuration } from './progress';

function humanCount(n: number): string {
  for (const [threshold, suffix] of [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ] as const) {
    if (n >= threshold) return `${(n / threshold).toFixed(1)}${suffix}`;
  }
  return String(n);
}

/** The cells of one row, as the report's table writes them (python/tuneflow_ml/report.py). */
export function rowCells(row: ComparisonRow): Record<string, string> {
  const zeroShot = row.baselines.zeroShot;
  return {
    model: row.model,
    size: `${humanCount(row.parameters)} params`,
    'example summary': row.exampleSummary ?? '(none)',
    'tuning time': formatDuration(row.tuningSeconds),
    'estimated cost':
      row.device === 'cpu'
        ? '$0.00 (trained on cpu: no GPU-hours)'
        : `$${row.estimatedCostUsd.toFixed(2)} (${row.gpuHours.toFixed(2)} GPU-hours x $${row.gpuHourPrice.toFixed(2)})`,
    'latency p50 / p95': row.latencyMs ? `${row.latencyMs.p50.toFixed(0)} / ${row.latencyMs.p95.toFixed(0)} ms` : 'not measured',
    'ROUGE-L': row.rougeL.toFixed(4),
    [`lead-N`]: `${row.baselines.lead.rougeL.toFixed(4)} (N=${row.baselines.lead.words})`,
    common: row.baselines.common.rougeL.toFixed(4),
    'zero-shot': zeroShot.rougeL === null ? `skipped: ${zeroShot.skipped ?? 'not scored'}` : zeroShot.rougeL.toFixed(4),
    strongest: `${row.baselines.best.name} ${row.baselines.best.rougeL.toFixed(4)}`,
    gate: row.gate.decision,
  };
}

/** A plain column table; the long example summary is cut to keep a row on one line. */
function columns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

export function compareText(comparison: Comparison): string {
  if (comparison.rows.length === 0) return 'no pipeline to compare';
  const cells = comparison.rows.map(rowCells);
  const main = ['model', 'size', 'tuning time', 'estimated cost', 'latency p50 / p95', 'ROUGE-L', 'gate'];
  const baselines = ['model', 'ROUGE-L', 'lead-N', 'common', 'zero-shot', 'strongest'];
  const rowsOf = (keys: string[]) => cells.map((c) => keys.map((k) => c[k]));
  return [
    columns(main, rowsOf(main)),
    '',
    `ROUGE-L beside the baselines, each on the rows evaluate scored the model on (${comparison.rows.map((r) => r.scoredRows).join(', ')} rows):`,
    columns(baselines, rowsOf(baselines)),
    '',
    'example summaries:',
    ...cells.map((c) => `  ${c.model}: ${cut(c['example summary'], 100)}`),
  ].join('\n');
}
