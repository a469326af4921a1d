/**
 * summarize: per-product and per-review summaries with the new model, spread over GPU workers by
 * BulkSummarize (workflows/bulk-summarize.ts):
 *
 *   planSummarize     cleaned.parquet -> the inputs files and their shard counts (plan.ts, DuckDB)
 *   summarizeShards   the named shards not finished yet, each a ShardJob for the Python side (shards.ts)
 *   mergeSummaries    the output files and MLflow metrics once every shard is finished (merge.ts, DuckDB)
 *
 * Planning and merging are bookkeeping: TypeScript and DuckDB on a CPU worker, no Python, no
 * model. Shards go to the GPU worker's generation engines (lib/python-step/engine-pool.ts:
 * Python started and models loaded once per worker, not per shard); their progress per batch is
 * the activity's heartbeat. A retried or repeated shards activity generates only the shards
 * without a matching manifest, so a killed worker or engine costs at most the shard it was on.
 */
import { mkdir } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { nonRetryable } from '../../lib/failures';
import { generationEngines, type StepEvent, type StepHeartbeat } from '../../lib/python-step';
import {
  ShardJobResult,
  ShardRef,
  SummarizeInput,
  type SummarizePlan,
  type SummarizeResult,
  type SummarizeShardsResult,
} from '../../lib/steps';
import { mergeShards } from './merge';
import { ensurePlan, stepSummary } from './plan';
import { allShards, finishedManifest, shardDirOf, shardOf, writeManifest, type Shard } from './shards';

export async function planSummarize(rawInput: SummarizeInput): Promise<SummarizePlan> {
  const { plan } = await ensurePlan(SummarizeInput.parse(rawInput));
  return stepSummary(plan);
}

export async function summarizeShards(rawInput: SummarizeInput, rawRefs: ShardRef[]): Promise<SummarizeShardsResult> {
  const input = SummarizeInput.parse(rawInput);
  const refs = ShardRef.array().min(1).parse(rawRefs);
  const { plan, stepDir } = await ensurePlan(input);
  const unknown = refs.filter((ref) => ref.index >= plan[ref.kind].shards);
  if (unknown.length > 0) {
    const names = unknown.slice(0, 5).map((ref) => `${ref.kind} ${ref.index}`);
    throw nonRetryable(
      'InvalidConfig',
      `shard(s) ${names.join(', ')} are not in the plan of ${input.cleanedPath} (${plan.products.shards} product and ${plan.reviews.shards} review ` +
        'shards with this summarize.shardSize and minReviews); plan again with the same config',
    );
  }
  await mkdir(shardDirOf(stepDir), { recursive: true });
  const selected = refs.map((ref) => shardOf(input, plan, stepDir, ref.kind, ref.index));
  const todo: Shard[] = [];
  for (const shard of selected) if (!(await finishedManifest(shard))) todo.push(shard);

  const context = activityContext();
  const heartbeat: StepHeartbeat = { step: 'summarize', progress: null, checkpoint: null };
  const total = sumRows(selected);
  let done = total - sumRows(todo);
  // Heartbeat on a timer too: cancellation reaches an activity only through heartbeats, and the
  // first shard of a model waits for it to load. A quarter of the timeout, so a slow tick never lets it lapse.
  const tickMs = Math.min(5_000, (context?.info.heartbeatTimeoutMs || 20_000) / 4);
  const ticker = context ? setInterval(() => context.heartbeat(heartbeat), tickMs) : null;
  context?.heartbeat(heartbeat);
  try {
    for (const [i, shard] of todo.entries()) {
      const startedAt = new Date();
      const onEvent = (event: StepEvent) => {
        if (event.event !== 'progress') return;
        const rate = event.samplesPerSec;
        heartbeat.progress = { ...event, step: done + event.step, totalSteps: total, etaSeconds: rate ? (total - done - event.step) / rate : null };
        context?.heartbeat(heartbeat);
      };
      const raw = await generationEngines().run({ request: 'summarizeShard', job: shard.job }, `shard ${shard.name}`, onEvent, context?.cancelled);
      await writeManifest(shard, ShardJobResult.parse(raw), startedAt);
      done += shard.job.end - shard.job.start;
      // The shard is durable: the heartbeat shows how far the activity got (the manifests decide a retry).
      heartbeat.checkpoint = { event: 'checkpoint', path: shard.manifestPath, step: selected.length - todo.length + i + 1 };
      context?.heartbeat(heartbeat);
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
  return { shards: selected.map((shard) => shard.name), generated: todo.map((shard) => shard.name) };
}

export async function mergeSummaries(rawInput: SummarizeInput): Promise<SummarizeResult> {
  const input = SummarizeInput.parse(rawInput);
  const { plan, stepDir } = await ensurePlan(input);
  return mergeShards(input, plan, stepDir, allShards(input, plan, stepDir));
}

const sumRows = (shards: readonly Shard[]) => shards.reduce((rows, shard) => rows + shard.job.end - shard.job.start, 0);

/** The activity context, or null outside a worker (scripts, tests). */
function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}
