/**
 * summarize: per-review and per-product summaries with the new model (`python -m tuneflow_ml.summarize`).
 *
 * The step writes shards (a parquet and a manifest each) under `<step dir>/shards`; a retried
 * attempt gets the same step dir and generates only the shards without a matching manifest, so a
 * killed worker costs at most one shard. Each finished shard is a `checkpoint` event, which the
 * runner heartbeats: the Temporal UI shows how many shards are done.
 *
 * `summarize` does all of it in one activity (the pipeline's step). BulkSummarize
 * (workflows/bulk-summarize.ts) spreads the same work over GPU workers with the other three:
 * `planSummarize`, `summarizeShards` (any number side by side) and `mergeSummaries`.
 */
import * as path from 'node:path';
import {
  SummarizeInput,
  SummarizePlan,
  SummarizeResult,
  SummarizeShardsResult,
  ShardRef,
  type SummarizePart,
  type SummarizeSpec,
} from '../lib/steps';
import { ensureStepDir } from '../lib/artifacts';
import { runPythonStep } from '../lib/python-step/runner';

async function runPart(rawInput: SummarizeInput, part: SummarizePart, specName: string): Promise<Record<string, unknown>> {
  const input = SummarizeInput.parse(rawInput);
  const outputDir = await ensureStepDir(input.config, input.pipelineId, 'summarize');
  const spec: SummarizeSpec = { ...input, outputDir, part };
  // Shard activities run side by side on several workers: each writes its own spec file.
  return runPythonStep({ module: 'summarize', spec, specPath: path.join(outputDir, `${specName}.json`) });
}

export async function summarize(input: SummarizeInput): Promise<SummarizeResult> {
  return SummarizeResult.parse(await runPart(input, { part: 'all' }, 'spec'));
}

export async function planSummarize(input: SummarizeInput): Promise<SummarizePlan> {
  return SummarizePlan.parse(await runPart(input, { part: 'plan' }, 'spec-plan'));
}

export async function summarizeShards(input: SummarizeInput, shards: ShardRef[]): Promise<SummarizeShardsResult> {
  const refs = ShardRef.array().min(1).parse(shards);
  const first = refs[0];
  const name = `spec-shards-${first.kind}-${first.index}-${refs.length}`;
  return SummarizeShardsResult.parse(await runPart(input, { part: 'shards', shards: refs }, name));
}

export async function mergeSummaries(input: SummarizeInput): Promise<SummarizeResult> {
  return SummarizeResult.parse(await runPart(input, { part: 'merge' }, 'spec-merge'));
}
