/**
 * Inputs and results of the pipeline's steps: what the workflow passes between activities and
 * what the Python steps read (`--spec`) and return (`result` event). References only (paths,
 * counts, ids), never the data itself, so Temporal payloads and history stay small.
 */
import { z } from 'zod';
import { PipelineConfig } from './config';
import { DecidedBy, Review } from './gate';

const path = z.string().min(1);
const count = z.number().int().nonnegative();

/** Every activity gets the validated config and the pipeline id (its artifacts folder). */
export const StepInput = z.object({
  pipelineId: z.string().min(1),
  config: PipelineConfig,
});
export type StepInput = z.infer<typeof StepInput>;

/**
 * Where every row read went: `read = kept + droppedByRule + quarantined + deduped + sampledOut`
 * (the clean step fails when it does not hold); `droppedByRule` is the sum of its three rules.
 */
export const CleanCounts = z.object({
  /** Data rows read from the input files (headers and blank lines excluded). */
  read: count,
  kept: count,
  droppedByRule: count,
  /** Rows whose body or headline is empty after cleaning (the seed drops them). */
  droppedEmpty: count,
  /** Rows with fewer words than `data.minTextWords` / `data.minSummaryWords` after cleaning. */
  droppedShort: count,
  /** Rows outside `data.category`. */
  filteredCategory: count,
  sampledOut: count,
  /** Malformed rows, each written to the quarantine file with its file, line and reason. */
  quarantined: count,
  /** Later copies of a review id already kept (the first in file order wins). */
  deduped: count,
});
export type CleanCounts = z.infer<typeof CleanCounts>;

export const CleanResult = z.object({
  cleanedPath: path,
  quarantinePath: path,
  counts: CleanCounts,
});
export type CleanResult = z.infer<typeof CleanResult>;

export const SplitInput = StepInput.extend({ cleanedPath: path });
export type SplitInput = z.infer<typeof SplitInput>;

export const SplitResult = z.object({
  trainPath: path,
  validationPath: path,
  trainRows: count,
  validationRows: count,
});
export type SplitResult = z.infer<typeof SplitResult>;

export const TrainInput = StepInput.extend({ trainPath: path, validationPath: path });
export type TrainInput = z.infer<typeof TrainInput>;

/** A registered version holding the `champion` alias, as evaluate (and train, with model.startFrom) found it. */
export const ChampionRef = z.object({
  version: z.string().min(1),
  /** `models:/<name>/<version>`: pinned, so a concurrent alias move cannot swap it mid-step. */
  modelUri: z.string().min(1),
});
export type ChampionRef = z.infer<typeof ChampionRef>;

/** Written by the activity as `train/spec.json` for `python -m tuneflow_ml.train`. */
export const TrainSpec = TrainInput.extend({
  outputDir: path,
  mlflowRunId: z.string().min(1),
  /** A complete checkpoint to resume from (optimizer, scheduler and data order restored). */
  resumeFromCheckpoint: path.nullable(),
  /** The DeepSpeed config (lib/deepspeed.ts), or null to train without DeepSpeed. */
  deepspeedConfig: z.record(z.string(), z.unknown()).nullable(),
  /** The champion to start from (model.startFrom), pinned by the first attempt; null: model.nameOrPath. */
  startFrom: ChampionRef.nullable(),
});
export type TrainSpec = z.infer<typeof TrainSpec>;

export const TrainResult = z.object({
  modelDir: path,
  mlflowRunId: z.string().min(1),
  /** `models:/<id>` of the model logged to the run (MLflow 3 logged model). */
  modelUri: z.string().min(1),
  globalStep: count,
  trainLoss: z.number().nullable(),
  device: z.string(),
  bf16: z.boolean(),
  resumedFrom: path.nullable(),
});
export type TrainResult = z.infer<typeof TrainResult>;

/** The memory plan of a training config (python/tuneflow_ml/plan.py). */
export const PlanSpec = z.object({
  config: PipelineConfig,
  /** Nodes in train.hostfile (1 without one). */
  nodes: z.number().int().positive(),
  /** Fail with InvalidConfig when the configured choice does not fit. */
  enforce: z.boolean(),
});
export type PlanSpec = z.infer<typeof PlanSpec>;

const PlanOption = z.object({
  stage: z.union([z.literal(2), z.literal(3)]).nullable(),
  offloadOptimizer: z.boolean(),
  offloadParam: z.boolean(),
  gpuGiB: z.number().nonnegative(),
  hostGiB: z.number().nonnegative(),
  fits: z.boolean(),
});

export const PlanResult = z.object({
  model: z.string(),
  totalParams: count,
  largestLayerParams: count,
  gpus: count,
  gpuMemoryGiB: z.number(),
  hostMemoryGiB: z.number(),
  activationsGiBPerGpu: z.number().nonnegative(),
  options: z.array(PlanOption),
  chosen: PlanOption,
});
export type PlanResult = z.infer<typeof PlanResult>;

export const EvaluateInput = StepInput.extend({
  modelDir: path,
  validationPath: path,
  mlflowRunId: z.string().min(1),
});
export type EvaluateInput = z.infer<typeof EvaluateInput>;


export const EvaluateSpec = EvaluateInput.extend({
  outputDir: path,
  /** Scored on the same validation rows as the new model; null when there is no champion. */
  champion: ChampionRef.nullable(),
});
export type EvaluateSpec = z.infer<typeof EvaluateSpec>;

export const RougeScores = z.object({
  rouge1: z.number(),
  rouge2: z.number(),
  rougeL: z.number(),
  rougeLsum: z.number(),
});
export type RougeScores = z.infer<typeof RougeScores>;

export const ChampionScore = z.object({ version: z.string().min(1), rouge: RougeScores });
export type ChampionScore = z.infer<typeof ChampionScore>;

export const EvaluateResult = z.object({
  rouge: RougeScores,
  numExamples: count,
  /** Parquet of text, reference and generated summary for each scored example. */
  samplesPath: path,
  /** The champion's scores on the same rows; null without a champion (and in results from before the gate). */
  champion: ChampionScore.nullable().default(null),
});
export type EvaluateResult = z.infer<typeof EvaluateResult>;

export const RegisterInput = StepInput.extend({
  workflowId: z.string().min(1),
  /** Temporal run id, for the lineage tags and the UI link. */
  workflowRunId: z.string().min(1),
  mlflowRunId: z.string().min(1),
  modelUri: z.string().min(1),
  rouge: RougeScores,
  /** The split's files, fingerprinted into the run's dataset inputs (lineage). */
  datasets: z.object({
    train: z.object({ path, rows: count }),
    validation: z.object({ path, rows: count }),
  }),
  /**
   * The champion gate's evidence; absent when scheduled by a workflow started before the gate
   * existed (patch `champion-gate`): such a version is registered without moving any alias.
   */
  gate: z
    .object({
      /** The champion evaluate scored (null: there was none). */
      champion: ChampionScore.nullable(),
      /** A person's (or the review timeout's) decision of a borderline case; null: the rule decides. */
      review: Review.nullable(),
    })
    .optional(),
});
export type RegisterInput = z.infer<typeof RegisterInput>;

export const RegisterResult = z.object({
  modelName: z.string(),
  version: z.string(),
  /** False when a retried attempt found the version an earlier attempt created. */
  created: z.boolean(),
  /** Where the version went and why; null for versions registered without the gate. */
  gate: z
    .object({
      alias: z.enum(['champion', 'challenger']),
      reason: z.string(),
      decidedBy: DecidedBy,
      rougeL: z.number(),
      /** The champion the new version was compared with. */
      champion: z.object({ version: z.string(), rougeL: z.number() }).nullable(),
      delta: z.number().nullable(),
    })
    .nullable()
    .default(null),
});
export type RegisterResult = z.infer<typeof RegisterResult>;

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
 * How much of the step one Python process does: all of it (the pipeline's summarize activity), or
 * one piece of the BulkSummarize workflow: plan, some shards, or the merge once all are finished.
 */
export const SummarizePart = z.discriminatedUnion('part', [
  z.object({ part: z.literal('all') }),
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
