/** The BulkSummarize view: how far summarize's child workflow (or one started on its own) is. */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import type { cpuActivities, gpuActivities } from '../../activities';
import { BulkSummarizeInput, ShardRef, SummarizePlan } from '../../lib/steps';
import { readWorkflow } from './history';
import { runningActivity, type RunningActivity } from './pending';

/** How far BulkSummarize is: finished shards, over all its runs. */
export const ShardProgress = z.object({
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  products: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  reviews: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
});
export type ShardProgress = z.infer<typeof ShardProgress>;

/** The BulkSummarize activities whose results say how far it is (typed: a rename fails the check). */
const PLAN_SUMMARIZE: keyof typeof cpuActivities = 'planSummarize';
const SUMMARIZE_SHARDS: keyof typeof gpuActivities = 'summarizeShards';

/**
 * Where a BulkSummarize workflow is. A run that continued as new starts from its input's
 * `progress`: the shards before `nextShard` are finished, since nothing is in flight when it
 * continues. This run's history adds the plan (when this run made it) and the shards of each
 * completed summarizeShards activity; its pending activities give the running shard's summary and
 * heartbeat. `shards` is null until the plan exists; `attempts` is the highest attempt of this
 * run's activities.
 */
export async function bulkSummarizeProgress(
  client: Client,
  workflowId: string,
): Promise<RunningActivity & { shards: ShardProgress | null; attempts: number | null }> {
  const { description, history } = await readWorkflow(client.workflow.getHandle(workflowId));
  const carried = history.input
    ? BulkSummarizeInput.shape.progress.parse(defaultPayloadConverter.fromPayload<{ progress?: unknown }>(history.input).progress)
    : null;
  let plan: SummarizePlan | null = carried?.plan ?? null;
  const done = { products: 0, reviews: 0 };
  if (carried) {
    // Shards are ordered products first (workflows/bulk-summarize.ts shardRefs).
    done.products = Math.min(carried.nextShard, carried.plan.products.shards);
    done.reviews = carried.nextShard - done.products;
  }
  for (const activity of history.activities) {
    if (!activity.completed) continue;
    if (activity.type === PLAN_SUMMARIZE && activity.result) {
      plan = SummarizePlan.parse(defaultPayloadConverter.fromPayload(activity.result));
    }
    const shardsArg = activity.args[1];
    if (activity.type === SUMMARIZE_SHARDS && shardsArg) {
      for (const ref of ShardRef.array().parse(defaultPayloadConverter.fromPayload(shardsArg))) done[ref.kind] += 1;
    }
  }
  const pendingActivities = description.raw.pendingActivities ?? [];
  const attempts = [...history.activities.map((a) => a.attempts), ...pendingActivities.map((a) => a.attempt ?? 1)];
  const pending = pendingActivities.find((a) => a.activityType?.name === SUMMARIZE_SHARDS);
  return {
    attempts: attempts.length > 0 ? Math.max(1, ...attempts) : null,
    shards: plan
      ? ShardProgress.parse({
          done: done.products + done.reviews,
          total: plan.products.shards + plan.reviews.shards,
          products: { done: done.products, total: plan.products.shards },
          reviews: { done: done.reviews, total: plan.reviews.shards },
        })
      : null,
    ...(pending ? runningActivity(pending, history.summaryOf) : { summary: null, heartbeat: null, lastFailure: null }),
  };
}
