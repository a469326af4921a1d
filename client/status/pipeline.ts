/**
 * The pipeline view: each step of the DAG with its state, attempts and duration (the workflow's
 * `progress` query or its result, its pending activities and its history), and the running
 * step's progress while `run --wait` polls.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import type { cpuActivities, gpuActivities } from '../../activities';
import { describeDecoded } from '../../lib/decoded-reads';
import { StepHeartbeat } from '../../lib/python-step/protocol';
import { PIPELINE_STEPS, PipelineProgress, PipelineStep, StepStatus } from '../../lib/pipeline';
import { progressQuery } from '../../workflows/finetune-pipeline';
import { ShardProgress, bulkSummarizeProgress } from './bulk';
import { readWorkflow, type HistoryReading } from './history';
import { heartbeatOf, runningActivity, type RunningActivity } from './pending';

/**
 * The step each activity type belongs to. Typed against the activity registries, so a renamed
 * activity fails the type check instead of silently dropping out of `status`. The run report is
 * not a step of the DAG, and summarize's shards run in the BulkSummarize child workflow.
 */
const STEP_OF_ACTIVITY = {
  preflight: 'preflight',
  planClean: 'clean',
  cleanShard: 'clean',
  mergeClean: 'clean',
  split: 'split',
  train: 'train',
  evaluate: 'evaluate',
  register: 'register',
} satisfies Partial<Record<keyof typeof cpuActivities | keyof typeof gpuActivities, PipelineStep>>;

export function stepOfActivity(type: string | null | undefined): PipelineStep | null {
  return type && type in STEP_OF_ACTIVITY ? STEP_OF_ACTIVITY[type as keyof typeof STEP_OF_ACTIVITY] : null;
}

export const StepView = z.object({
  step: PipelineStep,
  state: StepStatus.shape.state,
  /** Highest attempt of the step's activities (1: no retry); null before it scheduled one. */
  attempts: z.number().int().positive().nullable(),
  /** Finished steps: their duration; the running step: so far. */
  durationMs: z.number().nonnegative().nullable(),
  /** The running activity's summary, as the Temporal UI shows it. */
  activity: z.string().nullable(),
  heartbeat: StepHeartbeat.nullable(),
  /** summarize: the BulkSummarize child's finished shards; null for the other steps. */
  shards: ShardProgress.nullable(),
  /** The failure of the last attempt, while a retry waits. */
  lastFailure: z.string().nullable(),
  /** The pipeline whose finished step this one reused (`cache: true`), else null. */
  cachedFrom: z.string().nullable(),
});
export type StepView = z.infer<typeof StepView>;

export const PipelineStatus = z.object({
  pipelineId: z.string(),
  runId: z.string(),
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, ... */
  status: z.string(),
  currentStep: PipelineStep.nullable(),
  steps: z.array(StepView),
  progress: PipelineProgress,
});
export type PipelineStatus = z.infer<typeof PipelineStatus>;

/** What the progress output shows of the running step. */
export interface StepProgress {
  step: PipelineStep;
  heartbeat: StepHeartbeat | null;
  /** summarize: the BulkSummarize child's finished shards. */
  shards: ShardProgress | null;
  /** While a borderline champion gate waits for a person: why. */
  awaitingReview: string | null;
}

/** The progress a completed pipeline returned with its result; null while it has no result. */
function finalProgress(history: HistoryReading): PipelineProgress | null {
  if (!history.result) return null;
  return PipelineProgress.parse(defaultPayloadConverter.fromPayload<{ progress?: unknown }>(history.result).progress);
}

/**
 * Reads the DAG of one pipeline: its progress (from the result once it completed, else the
 * `progress` query, which a worker answers), pending activities and history.
 */
export async function pipelineStatus(client: Client, pipelineId: string, now = Date.now()): Promise<PipelineStatus> {
  const handle = client.workflow.getHandle(pipelineId);
  const { description, history } = await readWorkflow(handle);
  const progress = finalProgress(history) ?? PipelineProgress.parse(await handle.query(progressQuery));

  const attempts = new Map<PipelineStep, number>();
  const raiseAttempts = (step: PipelineStep, attempt: number) => attempts.set(step, Math.max(attempts.get(step) ?? 0, attempt));
  for (const activity of history.activities) {
    const step = stepOfActivity(activity.type);
    if (step) raiseAttempts(step, activity.attempts);
  }
  // A running or retrying activity is not in the history until it ends: its attempt is here.
  const runningOf = new Map<PipelineStep, RunningActivity>();
  for (const pending of description.raw.pendingActivities ?? []) {
    const step = stepOfActivity(pending.activityType?.name);
    if (!step) continue;
    raiseAttempts(step, pending.attempt ?? 1);
    const running = runningActivity(pending, history.summaryOf);
    const earlier = runningOf.get(step);
    runningOf.set(step, {
      summary: running.summary ?? earlier?.summary ?? null,
      heartbeat: running.heartbeat ?? earlier?.heartbeat ?? null,
      lastFailure: running.lastFailure,
    });
  }

  // Summarize runs as a BulkSummarize child workflow: its attempts, shards and running shard.
  const summarize =
    history.childWorkflowId && progress.steps.summarize.state !== 'pending'
      ? await bulkSummarizeProgress(client, history.childWorkflowId)
      : null;

  const steps = PIPELINE_STEPS.map((step): StepView => {
    const s = progress.steps[step];
    const running = step === 'summarize' ? summarize : runningOf.get(step);
    return {
      step,
      state: s.state,
      attempts: (step === 'summarize' ? summarize?.attempts : attempts.get(step)) ?? null,
      durationMs: s.durationMs ?? (s.state === 'running' && s.startedAt !== null ? Math.max(0, now - s.startedAt) : null),
      activity: running?.summary ?? null,
      heartbeat: running?.heartbeat ?? null,
      shards: step === 'summarize' ? (summarize?.shards ?? null) : null,
      lastFailure: running?.lastFailure ?? null,
      cachedFrom: s.cachedFrom ?? null,
    };
  });
  return PipelineStatus.parse({
    pipelineId,
    runId: description.runId,
    status: description.status.name,
    currentStep: progress.currentStep,
    steps,
    progress,
  });
}

/**
 * The running step's progress, for `run --wait`; null between steps. Summarize runs in the
 * BulkSummarize child workflow: its finished shards and its running shard's heartbeat.
 */
export async function currentProgress(client: Client, pipelineId: string): Promise<StepProgress | null> {
  const handle = client.workflow.getHandle(pipelineId);
  const [rawProgress, description] = await Promise.all([handle.query(progressQuery), describeDecoded(handle)]);
  const progress = PipelineProgress.parse(rawProgress);
  const step = progress.currentStep;
  if (!step) return null;
  const child = description.raw.pendingChildren?.[0]?.workflowId;
  if (step === 'summarize' && child) {
    const { heartbeat, shards } = await bulkSummarizeProgress(client, child);
    return { step, heartbeat, shards, awaitingReview: progress.awaitingReview };
  }
  const running = (description.raw.pendingActivities ?? []).find((a) => stepOfActivity(a.activityType?.name) === step);
  return { step, heartbeat: heartbeatOf(running), shards: null, awaitingReview: progress.awaitingReview };
}
