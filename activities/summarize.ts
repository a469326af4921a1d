/**
 * summarize: per-review and per-product summaries with the new model (`python -m tuneflow_ml.summarize`),
 * spread over GPU workers by BulkSummarize (workflows/bulk-summarize.ts): `planSummarize`,
 * `summarizeShards` (any number side by side) and `mergeSummaries`.
 *
 * The step writes shards (a parquet and a manifest each) under `<step dir>/shards`; a retried
 * attempt gets the same step dir and generates only the shards without a matching manifest, so a
 * killed worker costs at most one shard. Each finished shard is a `checkpoint` event, which the
 * runner heartbeats: the Temporal UI shows how many shards are done.
 */
import type { z } from 'zod';
import {
  SummarizeInput,
  SummarizePlan,
  SummarizeResult,
  SummarizeShardsResult,
  ShardRef,
  type SummarizePart,
  type SummarizeSpec,
} from '../lib/steps';
import { runStepActivity } from '../lib/python-step';

function runPart<R extends z.ZodType>(rawInput: SummarizeInput, part: SummarizePart, specName: string, result: R) {
  return runStepActivity(rawInput, {
    step: 'summarize',
    input: SummarizeInput,
    result,
    spec: (input, outputDir): SummarizeSpec => ({ ...input, outputDir, part }),
    // Shard activities run side by side on several workers: each writes its own spec file.
    specName,
  });
}

export async function planSummarize(input: SummarizeInput): Promise<SummarizePlan> {
  return runPart(input, { part: 'plan' }, 'spec-plan', SummarizePlan);
}

export async function summarizeShards(input: SummarizeInput, shards: ShardRef[]): Promise<SummarizeShardsResult> {
  const refs = ShardRef.array().min(1).parse(shards);
  const first = refs[0];
  const name = `spec-shards-${first.kind}-${first.index}-${refs.length}`;
  return runPart(input, { part: 'shards', shards: refs }, name, SummarizeShardsResult);
}

export async function mergeSummaries(input: SummarizeInput): Promise<SummarizeResult> {
  return runPart(input, { part: 'merge' }, 'spec-merge', SummarizeResult);
}
