/**
 * Contracts of the report step: `python -m tuneflow_ml.report` reads ReportSpec and writes
 * ReportStepResult.
 */
import { z } from 'zod';
import { count, path, StepInput } from './common';
import { EvaluateResult } from './evaluate';
import { RegisterResult } from './register';
import { SummarizeResult } from './summarize';
import { TrainResult } from './train';

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
  /** GPUs the training held (nodes x GPUs per node: the hostfile's slots, else train.numGpus); 0 when it ran on the CPU. */
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
  /**
   * The PNG plots beside the HTML: loss curve, ROUGE beside the champion and the baselines,
   * throughput, and with train.evalEverySteps ROUGE over the steps with the stopping point.
   */
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
