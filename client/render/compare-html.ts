/**
 * `tuneflow compare --html FILE`: one self-contained page (no script, no network): the table of
 * every pipeline and its plots as inline SVG: ROUGE-L beside the baselines per model, estimated
 * cost and latency per model.
 */
import type { Comparison } from '../compare';
import { rowCells } from './compare-table';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface Bar {
  label: string;
  value: number | null;
}

interface BarGroup {
  label: string;
  bars: Bar[];
}

const COLORS = ['#2f6db5', '#9aa5b1', '#c9a227', '#6a9f58'];

/** Grouped vertical bars; a null value is drawn as "n/a" text where its bar would be. */
function barChart(title: string, groups: BarGroup[], format: (v: number) => string): string {
  const barWidth = 28;
  const gap = 24;
  const height = 180;
  const top = 30;
  const perGroup = Math.max(...groups.map((g) => g.bars.length));
  const groupWidth = perGroup * barWidth + gap;
  const width = 40 + groups.length * groupWidth;
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const parts: string[] = [`<text x="10" y="18" font-size="14" font-weight="bold">${escape(title)}</text>`];
  groups.forEach((group, gi) => {
    const x0 = 30 + gi * groupWidth;
    group.bars.forEach((bar, bi) => {
      const x = x0 + bi * barWidth;
      if (bar.value === null) {
        parts.push(`<text x="${x + 4}" y="${top + height - 4}" font-size="10">n/a</text>`);
        return;
      }
      const h = (bar.value / max) * height;
      parts.push(
        `<rect x="${x}" y="${(top + height - h).toFixed(1)}" width="${barWidth - 4}" height="${h.toFixed(1)}" fill="${COLORS[bi % COLORS.length]}"><title>${escape(`${group.label}, ${bar.label}: ${format(bar.value)}`)}</title></rect>`,
        `<text x="${x}" y="${(top + height - h - 3).toFixed(1)}" font-size="9">${escape(format(bar.value))}</text>`,
      );
    });
    parts.push(`<text x="${x0}" y="${top + height + 16}" font-size="11">${escape(group.label)}</text>`);
  });
  const legend = groups[0]?.bars.map((bar, i) => `<tspan fill="${COLORS[i % COLORS.length]}">&#9632; ${escape(bar.label)}</tspan>`).join(' ') ?? '';
  parts.push(`<text x="10" y="${top + height + 34}" font-size="11">${legend}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 44}" role="img" aria-label="${escape(title)}">${parts.join('')}</svg>`;
}

export function compareHtml(comparison: Comparison): string {
  const { rows, problems } = comparison;
  const cells = rows.map(rowCells);
  const header = cells.length > 0 ? Object.keys(cells[0]) : [];
  const table = `<table><thead><tr>${header.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead><tbody>${cells
    .map((c) => `<tr>${header.map((h) => `<td>${escape(c[h])}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
  const rouge = barChart(
    'ROUGE-L of each model beside its baselines (same rows, same scorer)',
    rows.map((r) => ({
      label: r.model,
      bars: [
        { label: 'model', value: r.rougeL },
        { label: `lead-N`, value: r.baselines.lead.rougeL },
        { label: 'common headline', value: r.baselines.common.rougeL },
        { label: 'zero-shot', value: r.baselines.zeroShot.rougeL },
      ],
    })),
    (v) => v.toFixed(3),
  );
  const cost = barChart(
    'Estimated tuning cost (USD)',
    rows.map((r) => ({ label: r.model, bars: [{ label: 'cost', value: r.estimatedCostUsd }] })),
    (v) => `$${v.toFixed(2)}`,
  );
  const latency = barChart(
    'Single-summary latency p50 (ms, model loaded)',
    rows.map((r) => ({ label: r.model, bars: [{ label: 'p50', value: r.latencyMs?.p50 ?? null }] })),
    (v) => v.toFixed(0),
  );
  const problemList = problems.length
    ? `<h2>Not compared</h2><ul>${problems.map((p) => `<li>${escape(p.problem)}</li>`).join('')}</ul>`
    : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>tuneflow compare: ${escape(rows.map((r) => r.pipelineId).join(', '))}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}svg{display:block;margin:1.5em 0}</style>
</head><body>
<h1>tuneflow compare</h1>
<p>${rows.length} pipeline(s): ${escape(rows.map((r) => r.pipelineId).join(', '))}</p>
${table}
${rouge}
${cost}
${latency}
${problemList}
</body></html>
`;
}
