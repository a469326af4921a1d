/**
 * Contracts of summarizing: in bulk (the BulkSummarize workflow's activities: planSummarize gives a
 * SummarizePlan, summarizeShards a SummarizeShardsResult, mergeSummaries the SummarizeResult; each
 * shard is a ShardJob for the generation engine, which answers a ShardJobResult) and one text
 * (the engine's `summarizeText` request: SummarizeTextSpec, answered with SummarizeTextResult).
 */
import { z } from 'zod';
import { GenerationConfig, SummarizeConfig } from '../config';
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

const ShardCount = z.object({ shards: count, items: count });
/** planSummarize's result: how many shards (and inputs) of each kind. */
export const SummarizePlan = z.object({ products: ShardCount, reviews: ShardCount });
export type SummarizePlan = z.infer<typeof SummarizePlan>;

/** summarizeShards' result: shard names asked for, and those this attempt generated (the rest were finished). */
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
  /** What a person should know about the summaries (no product had enough reviews, empty summaries). */
  warnings: z.array(z.string()).default([]),
});
export type SummarizeResult = z.infer<typeof SummarizeResult>;

/** Generation settings of one `summarize --text` call (from `model.*` and `summarize.*` of a config). */
export const GenerationSettings = z.object({
  prefix: z.string(),
  maxSourceLength: z.number().int().positive(),
  numBeams: z.number().int().positive(),
  minNewTokens: count,
  maxNewTokens: z.number().int().positive(),
  ...GenerationConfig.shape,
});
export type GenerationSettings = z.infer<typeof GenerationSettings>;

/** The engine a job asks for (summarize.engine, summarize.computeType). */
export const EngineChoice = z.object({ name: SummarizeConfig.shape.engine, computeType: SummarizeConfig.shape.computeType });
export type EngineChoice = z.infer<typeof EngineChoice>;

/** The model a shard is generated with: its directory, and the registered name and version it is. */
export const ModelRef = z.object({ dir: path, name: z.string(), version: z.string() });
export type ModelRef = z.infer<typeof ModelRef>;

/**
 * One shard for the Python side: summarize the rows `start <= position < end` of a planned inputs
 * file (columns position, text and the kind's id column, written by planSummarize) and write
 * `outputPath` (position, summary). Then, the model loaded, summarize the first `latencySamples`
 * of them one at a time, for the single-request latency.
 */
export const ShardJob = z.object({
  shard: z.string().min(1),
  kind: ShardRef.shape.kind,
  inputPath: path,
  start: count,
  end: count,
  outputPath: path,
  model: ModelRef,
  generation: GenerationSettings,
  batchSize: z.number().int().positive(),
  latencySamples: count,
  engine: EngineChoice,
});
export type ShardJob = z.infer<typeof ShardJob>;

/** What generated a shard: the engine used (transformers when CTranslate2 could not serve the job), and why, if not the one asked for. */
export const EngineUsed = z.object({
  name: z.enum(['ctranslate2', 'transformers']),
  /** The arithmetic it ran in: float32, bfloat16, int8... */
  computeType: z.string(),
  /** Whether the CTranslate2 model was converted for this shard, reused, or rebuilt (found corrupt); null for transformers. */
  conversion: z.enum(['converted', 'reused', 'rebuilt']).nullable(),
  warning: z.string().nullable(),
});
export type EngineUsed = z.infer<typeof EngineUsed>;

export const ShardJobResult = z.object({
  rows: count,
  /** Generating the shard (latency calls excluded). */
  seconds: z.number().nonnegative(),
  /** Loading the model for this shard: 0 when it was loaded already. */
  loadSeconds: z.number().nonnegative(),
  latencySeconds: z.array(z.number().nonnegative()),
  device: z.string(),
  /** The engine process that generated it. */
  pid: z.number().int().positive(),
  engine: EngineUsed,
});
export type ShardJobResult = z.infer<typeof ShardJobResult>;

/** The engine's `summarizeText` request (`tuneflow summarize --text`): one text, summarized `repeat` times to time it. */
export const SummarizeTextSpec = z.object({
  text: z.string().trim().min(1, 'the text to summarize is empty'),
  modelDir: path,
  generation: GenerationSettings,
  repeat: z.number().int().positive(),
  engine: EngineChoice,
});
export type SummarizeTextSpec = z.infer<typeof SummarizeTextSpec>;

export const SummarizeTextResult = z.object({
  summary: z.string(),
  /** Loading tokenizer and model: what a cold request pays once per process. */
  loadMs: z.number().nonnegative(),
  /** Each call's time, the model loaded; the first includes one-off warm-up. */
  latencyMs: z.object({ first: z.number().nonnegative(), p50: z.number().nonnegative(), p95: z.number().nonnegative(), samples: count }),
  device: z.string(),
  engine: EngineUsed,
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
