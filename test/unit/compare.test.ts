/**
 * `tuneflow compare`'s rows and renderings, on a real pipeline result (the completed history in
 * test/replay/histories/finetune-pipeline.json, parsed by PipelineResult) and a variant of it as
 * a larger model trained on GPUs whose report failed.
 */
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { PipelineResult } from '../../lib/pipeline';
import { Comparison, comparisonRow } from '../../client/compare';
import { compareText } from '../../client/render/compare-table';
import { compareHtml } from '../../client/render/compare-html';

function recordedResult(): PipelineResult {
  const history = JSON.parse(readFileSync(path.join(__dirname, '../replay/histories/finetune-pipeline.json'), 'utf8')) as {
    events: { workflowExecutionCompletedEventAttributes?: { result: { payloads: { data: string }[] } } }[];
  };
  const completed = history.events.find((e) => e.workflowExecutionCompletedEventAttributes)!;
  return PipelineResult.parse(JSON.parse(Buffer.from(completed.workflowExecutionCompletedEventAttributes!.result.payloads[0].data, 'base64').toString()));
}

const tiny = recordedResult();
/** The same pipeline as a t5-large run on 4 GPUs (the preflight's plan), its report failed, zero-shot scored. */
const large: PipelineResult = PipelineResult.parse({
  ...tiny,
  pipelineId: 'large-run',
  config: { ...tiny.config, train: { ...tiny.config.train, numGpus: 4 }, report: { ...tiny.config.report, gpuHourPrice: 2.5 } },
  preflight: { ...tiny.preflight, plan: { ...tiny.preflight.plan, gpus: 4, totalParams: 737_668_096 } },
  train: { ...tiny.train, device: 'NVIDIA H200' },
  evaluation: {
    ...tiny.evaluation,
    rouge: { ...tiny.evaluation.rouge, rougeL: 0.31 },
    baselines: { ...tiny.evaluation.baselines, zeroShot: { model: 't5-large', rouge: { rouge1: 0.2, rouge2: 0.05, rougeL: 0.18, rougeLsum: 0.18 }, skipped: null } },
  },
  registered: { ...tiny.registered, version: '7', gate: { ...tiny.registered.gate, decision: 'champion', reason: 'first above lead-N' } },
  stepDurationsMs: { ...tiny.stepDurationsMs, train: 7_200_000 },
  report: { state: 'failed', reason: 'MLflow was down' },
});

test('a row takes the report table where the report ran, and the baselines scored on the same rows', () => {
  const row = comparisonRow(tiny);
  const table = tiny.report.state === 'completed' ? tiny.report.table : null;
  expect(table).not.toBeNull();
  expect(row).toMatchObject({
    pipelineId: tiny.pipelineId,
    model: `${tiny.registered.modelName} v${tiny.registered.version}`,
    parameters: table!.parameters,
    exampleSummary: table!.exampleSummary,
    tuningSeconds: table!.tuningSeconds,
    estimatedCostUsd: table!.estimatedCostUsd,
    latencyMs: tiny.summaries.latencyMs,
    scoredRows: tiny.evaluation.numExamples,
    rougeL: tiny.evaluation.rouge.rougeL,
    gate: { decision: tiny.registered.gate.decision },
  });
  expect(row.baselines.lead).toEqual({ words: tiny.evaluation.baselines.lead.words, rougeL: tiny.evaluation.baselines.lead.rouge.rougeL });
  expect(row.baselines.common.rougeL).toBe(tiny.evaluation.baselines.common.rouge.rougeL);
  expect(row.baselines.zeroShot).toMatchObject({ rougeL: null, skipped: expect.stringContaining('random weights') });
});

test('without a report, cost follows the report rule: GPUs x tuning hours x gpuHourPrice', () => {
  const row = comparisonRow(large);
  expect(row.parameters).toBe(737_668_096); // the preflight's plan, without a report
  expect(row.reportPath).toBeNull();
  expect(row.tuningSeconds).toBe(7200);
  expect(row.gpuHours).toBeCloseTo(8); // 4 GPUs x 2 h
  expect(row.estimatedCostUsd).toBeCloseTo(20); // x $2.50
  expect(row.baselines.zeroShot).toEqual({ model: 't5-large', rougeL: 0.18, skipped: null });
});

test('text, JSON and HTML show every row, the baselines and the plots', () => {
  const comparison: Comparison = { rows: [comparisonRow(tiny), comparisonRow(large)], problems: [{ pipelineId: 'gone', problem: 'no pipeline gone on this Temporal server' }] };
  const text = compareText(comparison);
  expect(text).toContain(`${tiny.registered.modelName} v${tiny.registered.version}`);
  expect(text).toContain(`${tiny.registered.modelName} v7`);
  expect(text).toContain('$0.00 (trained on cpu: no GPU-hours)');
  expect(text).toContain('$20.00 (8.00 GPU-hours x $2.50)');
  expect(text).toContain(`${tiny.evaluation.baselines.lead.rouge.rougeL.toFixed(4)} (N=${tiny.evaluation.baselines.lead.words})`);
  expect(text).toContain('0.1800'); // the large model's zero-shot
  expect(text).toContain('737.7M params');
  expect(text).toMatch(/skipped: .*random weights/);
  expect(Comparison.parse(JSON.parse(JSON.stringify(comparison)))).toEqual(comparison);

  const html = compareHtml(comparison);
  expect(html.match(/<svg /g)).toHaveLength(3);
  expect(html.match(/<tr>/g)).toHaveLength(3); // header + 2 rows
  expect(html).toContain('no pipeline gone on this Temporal server');
  // ROUGE-L bars: model, lead, common, zero-shot per model (the tiny model's zero-shot is n/a).
  expect(html).toContain(`${tiny.registered.modelName} v7, zero-shot: 0.180`);
  expect(html).toContain('n/a');
  expect(html).not.toMatch(/<script/);
});
