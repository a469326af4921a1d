/**
 * The FineTunePipeline workflow's contracts: its input, its `progress` query and its result.
 * The CLI validates what it reads back with these same schemas.
 */
import { z } from 'zod';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { PipelineConfig } from './config';
import {
  CleanCounts,
  CleanResult,
  EvaluateResult,
  PreflightCheck,
  PreflightResult,
  RegisterResult,
  ReportResult,
  SplitResult,
  SummarizeResult,
  TrainResult,
} from './steps';

export const PIPELINE_STEPS = ['preflight', 'clean', 'split', 'train', 'evaluate', 'register', 'summarize'] as const;
export const PipelineStep = z.enum(PIPELINE_STEPS);
export type PipelineStep = z.infer<typeof PipelineStep>;

/** Search attributes the pipeline upserts (registered by scripts/services.sh and the test server). */
export const SEARCH_ATTRIBUTES = {
  step: defineSearchAttributeKey('TuneflowStep', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('TuneflowModel', SearchAttributeType.KEYWORD),
  rougeL: defineSearchAttributeKey('TuneflowRougeL', SearchAttributeType.DOUBLE),
} as const;

/**
 * TuneflowModel's value: the last segment of model.nameOrPath (`t5-small`; `tiny-t5` of
 * `/models/tiny-t5`; `flan-t5-large` of `google/flan-t5-large`). The server indexes search
 * attributes in plaintext, even with the payload codec on, so a full path stays in the
 * (encrypted) payloads only.
 */
export function modelSearchValue(nameOrPath: string): string {
  return nameOrPath.split(/[/\\]/).filter((segment) => segment !== '').at(-1) ?? nameOrPath;
}

/** Raw (not yet defaulted) config: the workflow validates it, so a schedule can hold plain YAML. */
export const PipelineInput = z.object({ config: z.unknown() });
export type PipelineInput = z.infer<typeof PipelineInput>;

export const StepStatus = z.object({
  state: z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
  /** The pipeline whose finished step this one reused (`cache: true`); absent or null when it ran. */
  cachedFrom: z.string().nullable().optional(),
});
export type StepStatus = z.infer<typeof StepStatus>;

/**
 * The run report at the end of the pipeline. It is not one of PIPELINE_STEPS: it changes no
 * model, so its failure (after its retries) leaves the pipeline completed, with the reason here.
 */
const ReportCompleted = ReportResult.extend({ state: z.literal('completed') });
const ReportFailed = z.object({ state: z.literal('failed'), reason: z.string() });
export const ReportOutcome = z.discriminatedUnion('state', [ReportCompleted, ReportFailed]);
export type ReportOutcome = z.infer<typeof ReportOutcome>;
export const ReportState = z.discriminatedUnion('state', [z.object({ state: z.literal('running') }), ReportCompleted, ReportFailed]);
export type ReportState = z.infer<typeof ReportState>;

export const PipelineProgress = z.object({
  pipelineId: z.string(),
  currentStep: PipelineStep.nullable(),
  steps: z.record(PipelineStep, StepStatus),
  counts: CleanCounts.nullable(),
  rouge: EvaluateResult.shape.rouge.nullable(),
  modelVersion: z.string().nullable(),
  /** The preflight's checks, once it has run (a failed preflight's are in `error`). */
  preflight: z.array(PreflightCheck).nullable(),
  /** The memory plan of the training config (per GPU and host), once made. */
  memoryPlan: z.object({ gpuGiB: z.number(), hostGiB: z.number() }).nullable(),
  /** While a borderline champion gate waits for a promote / reject signal: why, and until when. */
  awaitingReview: z.string().nullable(),
  /** The run report, once the pipeline's steps are done; null before. */
  report: ReportState.nullable(),
  error: z.string().nullable(),
});
export type PipelineProgress = z.infer<typeof PipelineProgress>;

export const PipelineResult = z.object({
  pipelineId: z.string(),
  config: PipelineConfig,
  preflight: PreflightResult,
  clean: CleanResult,
  split: SplitResult,
  train: TrainResult,
  evaluation: EvaluateResult,
  registered: RegisterResult,
  summaries: SummarizeResult,
  report: ReportOutcome,
  stepDurationsMs: z.record(PipelineStep, z.number()),
  /** The `progress` query's last answer, so a finished pipeline's status needs no worker to replay it. */
  progress: PipelineProgress,
});
export type PipelineResult = z.infer<typeof PipelineResult>;
