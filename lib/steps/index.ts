/**
 * Inputs and results of the pipeline's steps: what the workflow passes between activities and
 * what the Python steps read (`--spec`) and return (`result` event). References only (paths,
 * counts, ids), never the data itself, so Temporal payloads and history stay small.
 */
import { z } from 'zod';
import { FileFormat, PipelineConfig } from '../config';
import { DecidedBy, Review } from '../gate';

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

/** One input file as clean resolved it. */
export const InputFile = z.object({
  path,
  format: FileFormat,
  gzip: z.boolean(),
  sizeBytes: count,
  mtime: z.string(),
  /** The path relative to the input's folder: unique within the input, used in synthetic review ids. */
  name: z.string(),
});
export type InputFile = z.infer<typeof InputFile>;

/**
 * A unit of clean's work: a whole file, or a byte range of a large uncompressed TSV (which then
 * gets the file's header line). Each writes its own parts; the index orders them as (file, range),
 * which decides which copy of a duplicated review is kept.
 */
export const CleanTask = z.object({
  index: count,
  file: InputFile,
  /** Bytes [start, end) of the file; end null: to its end. */
  range: z.object({ start: count, end: count.nullable() }),
  /** The header for a range that does not start the file. */
  header: z.string().nullable(),
  candidatesPath: path,
  quarantinePath: path,
});
export type CleanTask = z.infer<typeof CleanTask>;

/** What a clean task counted. */
export const CleanTaskResult = CleanCounts.pick({
  read: true,
  quarantined: true,
  droppedEmpty: true,
  droppedShort: true,
  filteredCategory: true,
  sampledOut: true,
}).extend({
  index: count,
  /** Rows passed on to the merge, which dedupes them into kept and deduped. */
  candidates: count,
  /** Physical lines of the range (the header given to a later range not included). */
  lines: count,
  blankLines: count,
  headerSeen: z.boolean(),
});
export type CleanTaskResult = z.infer<typeof CleanTaskResult>;

/** clean's plan: the resolved input, probed, cut into tasks (shards) that run in parallel. */
export const CleanPlan = z.object({
  files: z.array(InputFile),
  /** Files in an input folder without a known extension, left out (recorded in the manifest). */
  skipped: z.array(z.string()),
  tasks: z.array(CleanTask).min(1),
  /** Threads one process would use for all tasks (data.threads, or by input size). */
  threads: z.number().int().positive(),
  startedAt: z.string(),
});
export type CleanPlan = z.infer<typeof CleanPlan>;

export const CleanShardInput = StepInput.extend({ task: CleanTask });
export type CleanShardInput = z.infer<typeof CleanShardInput>;

export const MergeCleanInput = StepInput.extend({ plan: CleanPlan, results: z.array(CleanTaskResult) });
export type MergeCleanInput = z.infer<typeof MergeCleanInput>;

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

/**
 * The run report (python/tuneflow_ml/report.py): plots, samples and the seed's summary table of
 * a finished pipeline, from the results of its steps and the MLflow run's metric history.
 */
export const ReportInput = StepInput.extend({
  mlflowRunId: z.string().min(1),
  train: TrainResult,
  evaluation: EvaluateResult,
  summaries: SummarizeResult,
  registered: RegisterResult.pick({ modelName: true, version: true }),
  /** Wall time of the pipeline's train step, every attempt included: what the GPUs were held for. */
  tuningMs: z.number().nonnegative(),
});
export type ReportInput = z.infer<typeof ReportInput>;

export const ReportSpec = ReportInput.extend({
  outputDir: path,
  /** GPUs the training held (train.numGpus x hostfile nodes); 0 when it ran on the CPU. */
  gpus: count,
});
export type ReportSpec = z.infer<typeof ReportSpec>;

/** One row of the seed's closing table (model size, example summary, tuning time, cost, latency). */
export const ReportTable = z.object({
  model: z.string(),
  parameters: count,
  /** The first product's summary; null when no product had summarize.minReviews reviews. */
  exampleSummary: z.string().nullable(),
  tuningSeconds: z.number().nonnegative(),
  gpuHours: z.number().nonnegative(),
  estimatedCostUsd: z.number().nonnegative(),
  /** From the summarize step; null when it measured none (summarize.latencySamples: 0). */
  latencyMs: SummarizeResult.shape.latencyMs,
});
export type ReportTable = z.infer<typeof ReportTable>;

/** What report.py returns: the files it wrote (also logged to the run under `report/`) and the table. */
export const ReportStepResult = z.object({
  htmlPath: path,
  /** The PNG plots beside the HTML: loss curve, ROUGE against the champion, throughput. */
  plots: z.array(path).min(1),
  artifactPath: z.string().min(1),
  table: ReportTable,
});
export type ReportStepResult = z.infer<typeof ReportStepResult>;

export const ReportResult = ReportStepResult.extend({
  /** `runs:/<run id>/report/report.html`. */
  artifactUri: z.string().min(1),
  /** The report in the MLflow UI (the run's artifact view). */
  mlflowUrl: z.string().min(1),
});
export type ReportResult = z.infer<typeof ReportResult>;

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
