/** `tuneflow list` as a table: one pipeline a row, columns as wide as their longest cell. */
import type { PipelineListEntry } from '../pipelines';

export function pipelineListText(entries: PipelineListEntry[]): string {
  if (entries.length === 0) return 'no pipelines match';
  const rows = entries.map((e) => [
    e.pipelineId,
    e.status,
    e.step ?? '-',
    e.model ?? '-',
    e.rougeL !== null ? e.rougeL.toFixed(4) : '-',
    e.startedAt,
  ]);
  const header = ['PIPELINE', 'STATUS', 'STEP', 'MODEL', 'ROUGE-L', 'STARTED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
