/**
 * BulkSummarize: the summarize step spread over any number of GPU workers, for data sets too big
 * for one activity (millions of products). Also startable on its own for a given model and data.
 *
 *   planSummarize      shard counts (summarize.shardSize products or reviews per shard)
 *   summarizeShards    `shardsPerActivity` shards each, `maxConcurrentActivities` at once
 *   mergeSummaries     the Parquet/CSV files and MLflow metrics, once every shard is finished
 *
 * A shard's parquet and manifest are written by the Python step before its activity completes,
 * and a retried or repeated activity skips shards whose manifest matches: finished shards are
 * never redone, whatever crashes. After `activitiesPerRun` activities (or when the server suggests
 * it) the workflow continues as new with its position, so every run's history stays small.
 *
 * Deterministic workflow code: no I/O, activity types only. Timeouts and retries: activity-options.ts.
 */
import { ApplicationFailure, continueAsNew, workflowInfo } from '@temporalio/workflow';
import { formatConfigIssues } from '../lib/config';
import { FAILURE_TYPES } from '../lib/failures';
import {
  BulkSummarizeInput,
  type BulkSummarizeResult,
  type ShardRef,
  type SummarizePlan,
  type SummarizeShardsResult,
} from '../lib/steps';
import { bulkSummarizing } from './activity-options';

/** Every shard, products first, in the order the Python side plans them. */
export function shardRefs(plan: SummarizePlan): ShardRef[] {
  const refs = (kind: ShardRef['kind'], n: number) => Array.from({ length: n }, (_, index) => ({ kind, index }));
  return [...refs('products', plan.products.shards), ...refs('reviews', plan.reviews.shards)];
}

export async function bulkSummarize(rawInput: BulkSummarizeInput): Promise<BulkSummarizeResult> {
  const parsed = BulkSummarizeInput.safeParse(rawInput);
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.InvalidConfig,
      message: `invalid BulkSummarize input:\n${formatConfigIssues(parsed.error)}`,
      nonRetryable: true,
    });
  }
  const input = parsed.data;
  const step = input.summarize;
  const { light, shards: shardWorker } = bulkSummarizing(input.heartbeatTimeoutSeconds);
  const plan = input.progress?.plan ?? (await light.planSummarize.executeWithOptions({ summary: `plan shards of ${step.pipelineId}` }, [step]));
  const refs = shardRefs(plan);
  let nextShard = input.progress?.nextShard ?? 0;
  let generatedShards = input.progress?.generatedShards ?? 0;
  const runs = (input.progress?.runs ?? 0) + 1;

  // A sliding window of activities: a slow shard does not hold up the next ones.
  const running = new Map<number, Promise<[number, SummarizeShardsResult]>>();
  let started = 0;
  const mayStart = () =>
    nextShard < refs.length && started < input.activitiesPerRun && !workflowInfo().continueAsNewSuggested;
  while (running.size > 0 || mayStart()) {
    while (running.size < input.maxConcurrentActivities && mayStart()) {
      const shards = refs.slice(nextShard, nextShard + input.shardsPerActivity);
      const id = started;
      const first = shards[0];
      running.set(
        id,
        shardWorker.summarizeShards
          .executeWithOptions({ summary: `${first.kind} shard ${first.index} (+${shards.length - 1})` }, [step, shards])
          .then((result): [number, SummarizeShardsResult] => [id, result]),
      );
      nextShard += shards.length;
      started += 1;
    }
    const [id, result] = await Promise.race(running.values());
    running.delete(id);
    generatedShards += result.generated.length;
  }
  if (nextShard < refs.length) {
    // Nothing is in flight here: the next run starts exactly where this one stopped.
    return continueAsNew<typeof bulkSummarize>({
      ...input,
      progress: { plan, nextShard, generatedShards, runs },
    });
  }
  const summaries = await light.mergeSummaries.executeWithOptions({ summary: `merge ${refs.length} shards of ${step.pipelineId}` }, [step]);
  return { summaries, runs, generatedShards };
}
