/**
 * Contracts of summarizing: in bulk (`python -m tuneflow_ml.summarize` reads SummarizeSpec, writes
 * SummarizePlan, SummarizeShardsResult or SummarizeResult by part; the BulkSummarize workflow
 * spreads it) and one text (`python -m tuneflow_ml.summarize_text` reads SummarizeTextSpec, writes
 * SummarizeTextResult).
 */
import { z } from 'zod';
import { count, path, StepInput } from './common';

export const SummarizeInput = StepInput.extend({
  modelDir: path,
  cleanedPath: path,
  modelName: z.string(),
  modelVersion: z.string(),
  mlflowRunId: z.string().min(1),
});
export type SummarizeInput = z.infer<typeof SummarizeInput>;

/** One shard of the summarize step: summarize.shardSize products or reviews, in a fixed order. */
export const ShardRef = z.object({ kind: z.enum(['products', 'reviews']), index: count });
export type ShardRef = z.infer<typeof ShardRef>;

/**
 * Which piece of the BulkSummarize workflow one Python process does: the plan, some shards, or
 * the merge once all of them are finished.
 */
export const SummarizePart = z.discriminatedUnion('part', [
  z.object({ part: z.literal('plan') }),
  z.object({ part: z.literal('shards'), shards: z.array(ShardRef).min(1) }),
  z.object({ part: z.literal('merge') }),
]);
export type SummarizePart = z.infer<typeof SummarizePart>;

export const SummarizeSpec = SummarizeInput.extend({ outputDir: path, part: SummarizePart });
export type SummarizeSpec = z.infer<typeof SummarizeSpec>;

const ShardCount = z.object({ shards: count, items: count });
/** Result of the `plan` part: how many shards (and inputs) of each kind. */
export const SummarizePlan = z.object({ products: ShardCount, reviews: ShardCount });
export type SummarizePlan = z.infer<typeof SummarizePlan>;

/** Result of the `shards` part: shard names asked for, and those this attempt generated (the rest were finished). */
export const SummarizeShardsResult = z.object({ shards: z.array(z.string()), generated: z.array(z.string()) });
export type SummarizeShardsResult = z.infer<typeof SummarizeShardsResult>;

const SummaryFiles = z.object({ parquet: path, csv: path, rows: count });

export const SummarizeResult = z.object({
  products: SummaryFiles,
  reviews: SummaryFiles.nullable(),
  /** Generation throughput from every shard's manifest (per worker: shards run side by side each count their own time). */
  summariesPerSec: z.number().nonnegative(),
  /** One input summarized alone, model loaded (summarize.latencySamples of them); null when 0 samples. */
  latencyMs: z.object({ p50: z.number().nonnegative(), p95: z.number().nonnegative(), samples: count }).nullable(),
  /** Shards under `dir` (each a parquet and its manifest); `reused` were finished by an earlier attempt. */
  shards: z.object({ total: count, reused: count, dir: path }),
});
export type SummarizeResult = z.infer<typeof SummarizeResult>;

/** Generation settings of one `summarize --text` call (from `model.*` and `summarize.*` of a config). */
export const GenerationSettings = z.object({
  prefix: z.string(),
  maxSourceLength: z.number().int().positive(),
  numBeams: z.number().int().positive(),
  minNewTokens: count,
  maxNewTokens: z.number().int().positive(),
});
export type GenerationSettings = z.infer<typeof GenerationSettings>;

/** `python -m tuneflow_ml.summarize_text --spec`: one text, summarized `repeat` times to time it. */
export const SummarizeTextSpec = z.object({
  text: z.string().trim().min(1, 'the text to summarize is empty'),
  modelDir: path,
  generation: GenerationSettings,
  repeat: z.number().int().positive(),
});
export type SummarizeTextSpec = z.infer<typeof SummarizeTextSpec>;

export const SummarizeTextResult = z.object({
  summary: z.string(),
  /** Loading tokenizer and model: what a cold request pays once per process. */
  loadMs: z.number().nonnegative(),
  /** Each call's time, the model loaded; the first includes one-off warm-up. */
  latencyMs: z.object({ first: z.number().nonnegative(), p50: z.number().nonnegative(), p95: z.number().nonnegative(), samples: count }),
  device: z.string(),
});
export type SummarizeTextResult = z.infer<typeof SummarizeTextResult>;

/**
 * Input of the BulkSummarize workflow (workflows/bulk-summarize.ts): the summarize step's input
 * and how to spread it. `progress` is null when a caller starts it; continue-as-new carries it.
 */
export const BulkSummarizeInput = z.object({
  summarize: SummarizeInput,
  /** Shards per `summarizeShards` activity (more: fewer model loads, more to redo after a crash). */
  shardsPerActivity: z.number().int().positive().default(1),
  /** `summarizeShards` activities running at once: about the number of GPU workers. */
  maxConcurrentActivities: z.number().int().positive().default(4),
  /** Activities per workflow run before continue-as-new, so each run's history stays small. */
  activitiesPerRun: z.number().int().positive().default(500),
  /** A GPU worker silent this long is presumed dead: its shards go to another worker. */
  heartbeatTimeoutSeconds: z.number().int().positive().default(120),
  progress: z
    .object({ plan: SummarizePlan, nextShard: count, generatedShards: count, runs: count })
    .nullable()
    .default(null),
});
export type BulkSummarizeInput = z.input<typeof BulkSummarizeInput>;

export const BulkSummarizeResult = z.object({
  summaries: SummarizeResult,
  /** Workflow runs this took: 1 + the number of continue-as-new. */
  runs: z.number().int().positive(),
  /** Shards generated by summarizeShards activities (the others were finished before). */
  generatedShards: count,
});
export type BulkSummarizeResult = z.infer<typeof BulkSummarizeResult>;
