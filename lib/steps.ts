/**
 * Inputs and results of the pipeline's steps: what the workflow passes between activities and
 * what the Python steps read (`--spec`) and return (`result` event). References only (paths,
 * counts, ids), never the data itself, so Temporal payloads and history stay small.
 */
import { z } from 'zod';
import { PipelineConfig } from './config';

const path = z.string().min(1);
const count = z.number().int().nonnegative();

/** Every activity gets the validated config and the pipeline id (its artifacts folder). */
export const StepInput = z.object({
  pipelineId: z.string().min(1),
  config: PipelineConfig,
});
export type StepInput = z.infer<typeof StepInput>;

export const CleanCounts = z.object({
  /** Data rows read from the input (the header excluded). */
  read: count,
  kept: count,
  /** Rows whose body or headline is empty after cleaning (the seed drops them). */
  droppedEmpty: count,
  /** Rows outside `data.category`. */
  filteredCategory: count,
  sampledOut: count,
  /** Malformed rows, each written to the quarantine file with its line and reason. */
  quarantined: count,
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

/** Written by the activity as `train/spec.json` for `python -m tuneflow_ml.train`. */
export const TrainSpec = TrainInput.extend({
  outputDir: path,
  mlflowRunId: z.string().min(1),
  /** A complete checkpoint to resume from (optimizer, scheduler and data order restored). */
  resumeFromCheckpoint: path.nullable(),
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

export const EvaluateInput = StepInput.extend({
  modelDir: path,
  validationPath: path,
  mlflowRunId: z.string().min(1),
});
export type EvaluateInput = z.infer<typeof EvaluateInput>;

export const EvaluateSpec = EvaluateInput.extend({ outputDir: path });
export type EvaluateSpec = z.infer<typeof EvaluateSpec>;

export const RougeScores = z.object({
  rouge1: z.number(),
  rouge2: z.number(),
  rougeL: z.number(),
  rougeLsum: z.number(),
});
export type RougeScores = z.infer<typeof RougeScores>;

export const EvaluateResult = z.object({
  rouge: RougeScores,
  numExamples: count,
  /** Parquet of text, reference and generated summary for each scored example. */
  samplesPath: path,
});
export type EvaluateResult = z.infer<typeof EvaluateResult>;

export const RegisterInput = StepInput.extend({
  workflowId: z.string().min(1),
  mlflowRunId: z.string().min(1),
  modelUri: z.string().min(1),
  rouge: RougeScores,
});
export type RegisterInput = z.infer<typeof RegisterInput>;

export const RegisterResult = z.object({
  modelName: z.string(),
  version: z.string(),
  /** False when a retried attempt found the version an earlier attempt created. */
  created: z.boolean(),
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

export const SummarizeSpec = SummarizeInput.extend({ outputDir: path });
export type SummarizeSpec = z.infer<typeof SummarizeSpec>;

const SummaryFiles = z.object({ parquet: path, csv: path, rows: count });

export const SummarizeResult = z.object({
  products: SummaryFiles,
  reviews: SummaryFiles.nullable(),
  summariesPerSec: z.number().nonnegative(),
});
export type SummarizeResult = z.infer<typeof SummarizeResult>;
