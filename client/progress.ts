/**
 * What the CLI shows of a pipeline: each step of the DAG with its state, attempts and duration
 * (the workflow's `progress` query, its pending activities and its history), and the running
 * step's last heartbeat as a progress bar on a terminal or as plain lines in a log.
 */
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import type { cpuActivities, gpuActivities } from '../activities';
import { StepHeartbeat, type CheckpointEvent, type ProgressEvent } from '../lib/python-step/protocol';
import { PIPELINE_STEPS, PipelineProgress, PipelineStep, StepStatus } from '../lib/pipeline';
import { BulkSummarizeInput, ShardRef, SummarizePlan } from '../lib/steps';
import { progressQuery } from '../workflows/finetune-pipeline';


/** How far BulkSummarize (summarize's child workflow) is: finished shards, over all its runs. */
export const ShardProgress = z.object({
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  products: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  reviews: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
});
export type ShardProgress = z.infer<typeof ShardProgress>;

/**
 * The step each activity type belongs to. Typed against the activity registries, so a renamed
 * activity fails the type check instead of silently dropping out of `status`. The run report is
 * not a step of the DAG, and summarize's shards run in the BulkSummarize child workflow.
 */
const STEP_OF_ACTIVITY = {
  clean: 'clean',
  planClean: 'clean',
  cleanShard: 'clean',
  mergeClean: 'clean',
  split: 'split',
  planTraining: 'train',
  train: 'train',
  evaluate: 'evaluate',
  register: 'register',
  summarize: 'summarize',
} satisfies Partial<Record<keyof typeof cpuActivities | keyof typeof gpuActivities, PipelineStep>>;

function stepOfActivity(type: string | null | undefined): PipelineStep | null {
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

/** The BulkSummarize activities whose results say how far it is (typed: a rename fails the check). */
const PLAN_SUMMARIZE: keyof typeof gpuActivities = 'planSummarize';
const SUMMARIZE_SHARDS: keyof typeof gpuActivities = 'summarizeShards';

interface RunningActivity {
  summary: string | null;
  heartbeat: StepHeartbeat | null;
  lastFailure: string | null;
}

/**
 * Where a BulkSummarize workflow is (summarize's child, or one started on its own). A run that
 * continued as new starts from its input's `progress`: the shards before `nextShard` are finished,
 * since nothing is in flight when it continues. This run's history adds the plan (when this run
 * made it) and the shards of each completed summarizeShards activity; its pending activities give
 * the running shard's summary and heartbeat. `shards` is null until the plan exists; `attempts`
 * is the highest attempt of this run's activities.
 */
export async function bulkSummarizeProgress(
  client: Client,
  workflowId: string,
): Promise<RunningActivity & { shards: ShardProgress | null; attempts: number | null }> {
  const handle = client.workflow.getHandle(workflowId);
  const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const events = history.events ?? [];
  const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const carried = input
    ? BulkSummarizeInput.shape.progress.parse(defaultPayloadConverter.fromPayload<{ progress?: unknown }>(input).progress)
    : null;
  let plan: SummarizePlan | null = carried?.plan ?? null;
  const done = { products: 0, reviews: 0 };
  if (carried) {
    // Shards are ordered products first (workflows/bulk-summarize.ts shardRefs).
    done.products = Math.min(carried.nextShard, carried.plan.products.shards);
    done.reviews = carried.nextShard - done.products;
  }
  const scheduledById = new Map<string, NonNullable<(typeof events)[number]['activityTaskScheduledEventAttributes']>>();
  const summaryOf = new Map<string, string>();
  let attempts: number | null = null;
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled && event.eventId != null) scheduledById.set(String(event.eventId), scheduled);
    if (scheduled) attempts = Math.max(attempts ?? 1, 1);
    const started = event.activityTaskStartedEventAttributes;
    if (started) attempts = Math.max(attempts ?? 1, started.attempt ?? 1);
    const summary = event.userMetadata?.summary;
    if (scheduled?.activityId && summary) summaryOf.set(scheduled.activityId, defaultPayloadConverter.fromPayload<string>(summary));
    const completed = event.activityTaskCompletedEventAttributes;
    if (!completed) continue;
    const source = scheduledById.get(String(completed.scheduledEventId));
    const result = completed.result?.payloads?.[0];
    if (source?.activityType?.name === PLAN_SUMMARIZE && result) {
      plan = SummarizePlan.parse(defaultPayloadConverter.fromPayload(result));
    }
    const shardsArg = source?.input?.payloads?.[1];
    if (source?.activityType?.name === SUMMARIZE_SHARDS && shardsArg) {
      for (const ref of ShardRef.array().parse(defaultPayloadConverter.fromPayload(shardsArg))) done[ref.kind] += 1;
    }
  }
  for (const a of description.raw.pendingActivities ?? []) attempts = Math.max(attempts ?? 1, a.attempt ?? 1);
  const pending = (description.raw.pendingActivities ?? []).find((a) => a.activityType?.name === SUMMARIZE_SHARDS);
  return {
    attempts,
    shards: plan
      ? ShardProgress.parse({
          done: done.products + done.reviews,
          total: plan.products.shards + plan.reviews.shards,
          products: { done: done.products, total: plan.products.shards },
          reviews: { done: done.reviews, total: plan.reviews.shards },
        })
      : null,
    summary: pending ? (summaryOf.get(pending.activityId ?? '') ?? null) : null,
    heartbeat: pending ? pendingHeartbeat([pending], () => true) : null,
    lastFailure: pending?.lastFailure?.message ?? null,
  };
}

/**
 * The progress a completed pipeline returned with its result (null: it has none, as pipelines
 * finished before the result carried it).
 */
function finalProgress(history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>>): PipelineProgress | null {
  const completed = (history.events ?? []).find((event) => event.workflowExecutionCompletedEventAttributes)?.workflowExecutionCompletedEventAttributes;
  const result = completed?.result?.payloads?.[0];
  if (!result) return null;
  return PipelineProgress.nullable().parse(defaultPayloadConverter.fromPayload<{ progress?: unknown }>(result).progress ?? null);
}

/**
 * Reads the DAG of one pipeline: its progress (from the result once it completed, else the
 * `progress` query, which a worker answers), pending activities and history.
 */
export async function pipelineStatus(client: Client, pipelineId: string, now = Date.now()): Promise<PipelineStatus> {
  const handle = client.workflow.getHandle(pipelineId);
  const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const progress = finalProgress(history) ?? PipelineProgress.parse(await handle.query(progressQuery));

  // Ended attempts are in the history: the started event (written when the activity ends) has its attempt.
  const attempts = new Map<PipelineStep, number>();
  const typeOfScheduled = new Map<string, string>();
  /** Activity summaries are user metadata of the scheduled event, by activity id. */
  const summaryOf = new Map<string, string>();
  /** Summarize runs as a BulkSummarize child (histories from before it: as an activity). */
  let summarizeChild: string | null = null;
  for (const event of history.events ?? []) {
    summarizeChild = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? summarizeChild;
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled && event.eventId != null) {
      typeOfScheduled.set(String(event.eventId), scheduled.activityType?.name ?? '');
      // A scheduled activity is on its first attempt, as the UI counts, even before a worker starts it.
      const step = stepOfActivity(scheduled.activityType?.name);
      if (step) attempts.set(step, Math.max(attempts.get(step) ?? 0, 1));
    }
    const summary = event.userMetadata?.summary;
    if (scheduled?.activityId && summary) summaryOf.set(scheduled.activityId, defaultPayloadConverter.fromPayload<string>(summary));
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const step = stepOfActivity(typeOfScheduled.get(String(started.scheduledEventId)));
      if (step) attempts.set(step, Math.max(attempts.get(step) ?? 0, started.attempt ?? 1));
    }
  }
  // A running or retrying activity is not in the history until it ends: its attempt is here.
  const pendingOf = new Map<PipelineStep, RunningActivity>();
  for (const pending of description.raw.pendingActivities ?? []) {
    const step = stepOfActivity(pending.activityType?.name);
    if (!step) continue;
    attempts.set(step, Math.max(attempts.get(step) ?? 0, pending.attempt ?? 1));
    pendingOf.set(step, {
      summary: summaryOf.get(pending.activityId ?? '') ?? pendingOf.get(step)?.summary ?? null,
      heartbeat: pendingHeartbeat([pending], () => true) ?? pendingOf.get(step)?.heartbeat ?? null,
      lastFailure: pending.lastFailure?.message ?? null,
    });
  }

  const childProgress =
    summarizeChild && progress.steps.summarize.state !== 'pending' ? await bulkSummarizeProgress(client, summarizeChild) : null;

  const steps = PIPELINE_STEPS.map((step): StepView => {
    const s = progress.steps[step];
    const pending = pendingOf.get(step) ?? (step === 'summarize' ? childProgress : undefined);
    return {
      step,
      state: s.state,
      attempts: attempts.get(step) ?? (step === 'summarize' ? (childProgress?.attempts ?? null) : null),
      durationMs: s.durationMs ?? (s.state === 'running' && s.startedAt !== null ? Math.max(0, now - s.startedAt) : null),
      activity: pending?.summary ?? null,
      heartbeat: pending?.heartbeat ?? null,
      shards: step === 'summarize' ? (childProgress?.shards ?? null) : null,
      lastFailure: pending?.lastFailure ?? null,
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

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The figures after the count: epoch, loss, throughput, ETA, last checkpoint. */
function progressFigures(p: ProgressEvent, checkpoint: CheckpointEvent | null | undefined): string {
  return [
    p.epoch !== null ? `epoch ${p.epoch.toFixed(2)}` : null,
    p.loss !== null ? `loss ${p.loss.toFixed(4)}` : null,
    p.samplesPerSec !== null ? `${p.samplesPerSec.toFixed(1)} samples/s` : null,
    p.etaSeconds !== null ? `ETA ${formatDuration(p.etaSeconds)}` : null,
    checkpoint ? `checkpoint@${checkpoint.step}` : null,
  ]
    .filter((f): f is string => f !== null)
    .join(' ');
}

function countLabel(p: ProgressEvent): string {
  return p.unit === 'steps' ? 'step' : 'example';
}

/** What the progress output shows of the running step. */
export interface StepProgress {
  step: PipelineStep;
  heartbeat: StepHeartbeat | null;
  /** summarize: the BulkSummarize child's finished shards. */
  shards: ShardProgress | null;
  /** While a borderline champion gate waits for a person: why. */
  awaitingReview: string | null;
}

function shardsText(shards: ShardProgress): string {
  return `shards ${shards.done}/${shards.total} (products ${shards.products.done}/${shards.products.total}, reviews ${shards.reviews.done}/${shards.reviews.total})`;
}

/** The running activity's own count and figures: `step 35/234 epoch 0.30 loss 2.1000 ...`. */
function heartbeatText(heartbeat: StepHeartbeat | null): string | null {
  const p = heartbeat?.progress;
  if (p) return [`${countLabel(p)} ${p.step}/${p.totalSteps}`, progressFigures(p, heartbeat.checkpoint)].filter(Boolean).join(' ');
  return heartbeat?.rowsRead !== undefined ? `${heartbeat.rowsRead} rows read` : null;
}

/** One log line per change: `[train] running step 35/234 epoch 0.30 loss 2.1000 ...`. */
export function progressLine({ step, heartbeat, shards }: Omit<StepProgress, 'awaitingReview'>): string {
  return [`[${step}] running`, shards ? shardsText(shards) : null, heartbeatText(heartbeat)].filter(Boolean).join(' ');
}

/**
 * A terminal progress bar over the step: summarize's finished shards, or the running activity's
 * count (training steps): `[train] [####......] step 35/234  15% epoch 0.30 loss 2.1000 ... ETA 2m03s`.
 */
export function progressBar(progress: Omit<StepProgress, 'awaitingReview'>, width = 30): string {
  const { step, heartbeat, shards } = progress;
  const p = heartbeat?.progress;
  const measure =
    shards && shards.total > 0
      ? { done: shards.done, total: shards.total, count: shardsText(shards), rest: heartbeatText(heartbeat) }
      : p && p.totalSteps > 0
        ? { done: p.step, total: p.totalSteps, count: `${countLabel(p)} ${p.step}/${p.totalSteps}`, rest: progressFigures(p, heartbeat?.checkpoint) }
        : null;
  if (!measure) return progressLine(progress);
  const fraction = Math.min(1, measure.done / measure.total);
  const filled = Math.round(fraction * width);
  const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  return [`[${step}] [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, measure.count, percent, measure.rest].filter(Boolean).join(' ');
}

/**
 * Prints progress while `run --wait` polls: on a terminal one bar per step, redrawn in place
 * (a finished step's bar stays above the next); in a log or a pipe, a plain line per change.
 */
export class ProgressPrinter {
  private lastLine = '';
  private lastStep: PipelineStep | null = null;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  show(progress: StepProgress): void {
    const { step, awaitingReview } = progress;
    const line = awaitingReview
      ? `[${step}] waiting for a person: ${awaitingReview}`
      : this.tty
        ? progressBar(progress)
        : progressLine(progress);
    if (line === this.lastLine) return;
    if (this.tty) {
      // A new step starts a new line; the same step redraws its bar (cut to the terminal's width).
      if (this.lastStep !== null && step !== this.lastStep) this.out.write('\n');
      this.out.write(`\r\x1b[2K${line.slice(0, Math.max(20, (this.out.columns ?? 120) - 1))}`);
    } else {
      this.out.write(`${line}\n`);
    }
    this.lastLine = line;
    this.lastStep = step;
  }

  /** Ends the bar's line, so what follows starts on its own. */
  finish(): void {
    if (this.tty && this.lastStep !== null) this.out.write('\n');
  }
}

type PendingActivity = NonNullable<WorkflowExecutionDescription['raw']['pendingActivities']>[number];

/** The heartbeat of the first pending activity that `belongs` accepts, if it sent a readable one. */
function pendingHeartbeat(
  pending: PendingActivity[],
  belongs: (type: string | null | undefined) => boolean,
): StepHeartbeat | null {
  const payload = pending.find((a) => belongs(a.activityType?.name))?.heartbeatDetails?.payloads?.[0];
  const parsed = payload ? StepHeartbeat.safeParse(defaultPayloadConverter.fromPayload(payload)) : null;
  return parsed?.success ? parsed.data : null;
}

/**
 * The running step's progress, for `run --wait`; null between steps. Summarize runs in the
 * BulkSummarize child workflow: its finished shards and its running shard's heartbeat.
 */
export async function currentProgress(client: Client, pipelineId: string): Promise<StepProgress | null> {
  const handle = client.workflow.getHandle(pipelineId);
  const [rawProgress, description] = await Promise.all([handle.query(progressQuery), handle.describe()]);
  const progress = PipelineProgress.parse(rawProgress);
  const step = progress.currentStep;
  if (!step) return null;
  const child = description.raw.pendingChildren?.[0]?.workflowId;
  if (step === 'summarize' && child) {
    const { heartbeat, shards } = await bulkSummarizeProgress(client, child);
    return { step, heartbeat, shards, awaitingReview: progress.awaitingReview };
  }
  const heartbeat = pendingHeartbeat(description.raw.pendingActivities ?? [], (type) => stepOfActivity(type) === step);
  return { step, heartbeat, shards: null, awaitingReview: progress.awaitingReview };
}
