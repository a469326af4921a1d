/**
 * The FineTunePipeline workflow's contracts: its input, its `progress` query and its result.
 * The CLI validates what it reads back with these same schemas.
 */
import { z } from 'zod';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { PipelineConfig } from './config';
import { CleanCounts, CleanResult, EvaluateResult, RegisterResult, SplitResult, SummarizeResult, TrainResult } from './steps';

export const PIPELINE_STEPS = ['clean', 'split', 'train', 'evaluate', 'register', 'summarize'] as const;
export const PipelineStep = z.enum(PIPELINE_STEPS);
export type PipelineStep = z.infer<typeof PipelineStep>;

/** Search attributes the pipeline upserts (registered by scripts/services.sh and the test server). */
export const SEARCH_ATTRIBUTES = {
  step: defineSearchAttributeKey('TuneflowStep', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('TuneflowModel', SearchAttributeType.KEYWORD),
  rougeL: defineSearchAttributeKey('TuneflowRougeL', SearchAttributeType.DOUBLE),
} as const;

/** Raw (not yet defaulted) config: the workflow validates it, so a schedule can hold plain YAML. */
export const PipelineInput = z.object({ config: z.unknown() });
export type PipelineInput = z.infer<typeof PipelineInput>;

export const StepStatus = z.object({
  state: z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
});
export type StepStatus = z.infer<typeof StepStatus>;

export const PipelineResult = z.object({
  pipelineId: z.string(),
  config: PipelineConfig,
  clean: CleanResult,
  split: SplitResult,
  train: TrainResult,
  evaluation: EvaluateResult,
  registered: RegisterResult,
  summaries: SummarizeResult,
  stepDurationsMs: z.record(PipelineStep, z.number()),
});
export type PipelineResult = z.infer<typeof PipelineResult>;

export const PipelineProgress = z.object({
  pipelineId: z.string(),
  currentStep: PipelineStep.nullable(),
  steps: z.record(PipelineStep, StepStatus),
  counts: CleanCounts.nullable(),
  rouge: EvaluateResult.shape.rouge.nullable(),
  modelVersion: z.string().nullable(),
  /** The memory plan of the training config (per GPU and host), once made. */
  memoryPlan: z.object({ gpuGiB: z.number(), hostGiB: z.number() }).nullable(),
  /** While a borderline champion gate waits for a promote / reject signal: why, and until when. */
  awaitingReview: z.string().nullable().default(null),
  error: z.string().nullable(),
});
export type PipelineProgress = z.infer<typeof PipelineProgress>;
