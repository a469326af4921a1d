/**
 * `tuneflow compare ID...`: the seed's closing table across finished pipelines, one row per
 * pipeline (model, size, an example summary, tuning time, estimated cost, inference latency,
 * ROUGE-L beside the same baselines, the gate's decision), so a team can decide which model size
 * is worth it. Read from each pipeline's workflow result (decoded with the payload codec when
 * it is on); nothing is recomputed.
 */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { WorkflowNotFoundError, isGrpcServiceError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { PipelineResult } from '../lib/pipeline';
import { GateDecision } from '../lib/gate';
import { BaselineName } from '../lib/steps';
import { connectClient } from './start';
import { readWorkflow } from './status/history';
import { compareHtml } from './render/compare-html';
import { compareText } from './render/compare-table';

const rougeL = z.number().min(0).max(1);
const GRPC_NOT_FOUND = 5;

export const ComparisonRow = z.object({
  pipelineId: z.string(),
  /** `<registered model name> v<version>`. */
  model: z.string(),
  /** The base model fine-tuned (model.nameOrPath). */
  baseModel: z.string(),
  /** Parameter count: the run report's, else the preflight's memory plan's. */
  parameters: z.number().int().nonnegative(),
  exampleSummary: z.string().nullable(),
  tuningSeconds: z.number().nonnegative(),
  /** What train ran on: a GPU's name, or `cpu`. */
  device: z.string(),
  gpuHours: z.number().nonnegative(),
  /** gpuHours x report.gpuHourPrice of that pipeline's config; 0 when it trained without GPUs. */
  estimatedCostUsd: z.number().nonnegative(),
  gpuHourPrice: z.number().nonnegative(),
  latencyMs: z.object({ p50: z.number().nonnegative(), p95: z.number().nonnegative(), samples: z.number().int().nonnegative() }).nullable(),
  /** Rows evaluate scored the model and its baselines on. */
  scoredRows: z.number().int().nonnegative(),
  rougeL,
  baselines: z.object({
    lead: z.object({ words: z.number().int().positive(), rougeL }),
    common: z.object({ headline: z.string(), rougeL }),
    zeroShot: z.object({ model: z.string(), rougeL: rougeL.nullable(), skipped: z.string().nullable() }),
    /** The strongest of them: register.mustBeat `best`'s floor. */
    best: z.object({ name: BaselineName, rougeL }),
  }),
  gate: z.object({ decision: GateDecision, reason: z.string() }),
  reportPath: z.string().nullable(),
});
export type ComparisonRow = z.infer<typeof ComparisonRow>;

/** A pipeline that could not be compared: which, and what to do. */
export const ComparisonProblem = z.object({ pipelineId: z.string(), problem: z.string() });
export type ComparisonProblem = z.infer<typeof ComparisonProblem>;

export const Comparison = z.object({ rows: z.array(ComparisonRow), problems: z.array(ComparisonProblem) });
export type Comparison = z.infer<typeof Comparison>;

/** One pipeline's row, from its result alone. */
export function comparisonRow(result: PipelineResult): ComparisonRow {
  const { train, evaluation, registered, summaries, report, config } = result;
  const table = report.state === 'completed' ? report.table : null;
  // The report's figures where it ran; where it failed, its rule (activities/report.ts) on the
  // GPUs the preflight's memory plan counted (every node of the hostfile).
  const tuningSeconds = table?.tuningSeconds ?? result.stepDurationsMs.train / 1000;
  const gpus = train.device === 'cpu' ? 0 : Math.max(1, result.preflight.plan.gpus);
  const gpuHours = table?.gpuHours ?? (gpus * tuningSeconds) / 3600;
  const { lead, common, zeroShot, best } = evaluation.baselines;
  return ComparisonRow.parse({
    pipelineId: result.pipelineId,
    model: `${registered.modelName} v${registered.version}`,
    baseModel: config.model.nameOrPath,
    parameters: table?.parameters ?? result.preflight.plan.totalParams,
    exampleSummary: table?.exampleSummary ?? null,
    tuningSeconds,
    device: train.device,
    gpuHours,
    estimatedCostUsd: table?.estimatedCostUsd ?? gpuHours * config.report.gpuHourPrice,
    gpuHourPrice: config.report.gpuHourPrice,
    latencyMs: summaries.latencyMs,
    scoredRows: evaluation.numExamples,
    rougeL: evaluation.rouge.rougeL,
    baselines: {
      lead: { words: lead.words, rougeL: lead.rouge.rougeL },
      common: { headline: common.headline, rougeL: common.rouge.rougeL },
      zeroShot: { model: zeroShot.model, rougeL: zeroShot.rouge?.rougeL ?? null, skipped: zeroShot.skipped },
      best,
    },
    gate: { decision: registered.gate.decision, reason: registered.gate.reason },
    reportPath: report.state === 'completed' ? report.htmlPath : null,
  });
}

/** A pipeline's result, or why there is none to compare (not found, still running, failed). */
export async function fetchPipelineResult(client: Client, pipelineId: string): Promise<PipelineResult | ComparisonProblem> {
  try {
    const { description, history } = await readWorkflow(client.workflow.getHandle(pipelineId));
    const state = description.status.name;
    if (state !== 'COMPLETED' || !history.result) {
      const todo =
        state === 'RUNNING'
          ? `wait for it to finish (\`tuneflow status ${pipelineId}\` shows its progress)`
          : `\`tuneflow status ${pipelineId}\` says why; compare pipelines that completed`;
      return { pipelineId, problem: `pipeline ${pipelineId} is ${state}, not COMPLETED: ${todo}` };
    }
    const parsed = PipelineResult.safeParse(defaultPayloadConverter.fromPayload(history.result));
    if (!parsed.success) {
      return { pipelineId, problem: `${pipelineId}'s result is not a finetune pipeline's (${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}): pass pipeline ids, not BulkSummarize or schedule ids` };
    }
    return parsed.data;
  } catch (err) {
    // The history and description reads are raw service calls: an unknown id is gRPC NOT_FOUND (5).
    if (err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND)) {
      return { pipelineId, problem: `no pipeline ${pipelineId} on this Temporal server: check the id (\`tuneflow list\`) and TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE` };
    }
    throw err;
  }
}

/** Every pipeline's row, in the order given; the ones that could not be compared as problems. */
export async function compare(client: Client, pipelineIds: string[]): Promise<Comparison> {
  const fetched = await Promise.all(pipelineIds.map((id) => fetchPipelineResult(client, id)));
  const rows: ComparisonRow[] = [];
  const problems: ComparisonProblem[] = [];
  for (const item of fetched) {
    if ('problem' in item) problems.push(item);
    else rows.push(comparisonRow(item));
  }
  return { rows, problems };
}

export interface CompareOptions {
  json?: boolean;
  html?: string;
}

/** The CLI command: text (or --json) on stdout, --html FILE besides; exit 1 if any id could not be compared. */
export async function compareCommand(pipelineIds: string[], options: CompareOptions): Promise<void> {
  const comparison = await compare(await connectClient(), pipelineIds);
  if (options.html) {
    await writeFile(options.html, compareHtml(comparison));
  }
  if (options.json) console.log(JSON.stringify(comparison, null, 2));
  else {
    console.log(compareText(comparison));
    if (options.html) console.log(`\nHTML: ${path.resolve(options.html)}`);
  }
  for (const { problem } of comparison.problems) console.error(`error: ${problem}`);
  if (comparison.problems.length > 0) process.exitCode = 1;
}
