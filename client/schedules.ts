/**
 * Scheduled retraining on Temporal Schedules. Each action starts a FineTunePipeline with the
 * config read and validated when the schedule was created; the server keeps the schedule, so
 * it runs whether or not any client is up.
 *
 *   const s = await createSchedule(client, ScheduleRequest.parse({ scheduleId: 'nightly', configFile: 'configs/t5-small.yaml', cron: '0 2 * * *' }));
 *   await triggerSchedule(client, 'nightly');
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleSummary,
} from '@temporalio/client';
import { msToNumber, type StringValue } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { loadConfigFile } from '../lib/config-file';
import { ScheduleError } from '../lib/failures';
import { TASK_QUEUES } from '../lib/task-queues';
import { fineTunePipeline } from '../workflows/finetune-pipeline';
import { pipelineMetadata } from './start';

export const OVERLAP_POLICIES = ['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL'] as const;
export const OverlapPolicy = z.enum(OVERLAP_POLICIES);
export type OverlapPolicy = z.infer<typeof OverlapPolicy>;

/** Milliseconds of a duration string (`ms` syntax, as Temporal reads durations). */
function durationMs(value: string): number {
  return msToNumber(value as StringValue);
}

/** A positive duration with a unit, as Temporal reads it: `90s`, `30m`, `6h`, `1d`. */
const Duration = z.string().refine(
  (value) => {
    try {
      return /[a-z]/i.test(value) && durationMs(value) > 0;
    } catch {
      return false;
    }
  },
  { message: 'expected a positive duration with a unit, such as "90s", "30m", "6h" or "1d"' },
);

/** What `tuneflow schedule create` asks for. */
export const ScheduleRequest = z
  .object({
    scheduleId: z.string().regex(/^[\w.-]+$/, 'letters, digits, "_", "-" and "." only'),
    configFile: z.string().min(1),
    /** Standard 5-field cron (`0 2 * * *`), evaluated in `timezone`. */
    cron: z.string().min(1).optional(),
    /** Fixed interval between runs (`7d`). */
    every: Duration.optional(),
    timezone: z.string().min(1).default('UTC'),
    /** SKIP: a run still going when the next is due (a multi-day training) is never doubled. */
    overlap: OverlapPolicy.default('SKIP'),
    /** Runs missed while the server was down are taken when it is back, if this recent. */
    catchupWindow: Duration.default('1d'),
    /** A failed run pauses the schedule, so broken data does not fail again every night. */
    pauseOnFailure: z.boolean().default(true),
    paused: z.boolean().default(false),
    note: z.string().optional(),
  })
  .strict()
  .refine((r) => (r.cron === undefined) !== (r.every === undefined), {
    message: 'give exactly one of cron (e.g. "0 2 * * *") or every (e.g. "1d")',
    path: ['cron'],
  });
export type ScheduleRequest = z.infer<typeof ScheduleRequest>;
export type ScheduleRequestInput = z.input<typeof ScheduleRequest>;

/**
 * Kept in the schedule's memo: where its config came from, and the spec as the user wrote it
 * (the server keeps a cron only as the calendar it compiles it to). Absent, not null, when
 * unset: memo fields holding null do not survive the round trip.
 */
export const ScheduleMemo = z.object({
  configFile: z.string(),
  configSha256: z.string(),
  cron: z.string().optional(),
  every: z.string().optional(),
});
export type ScheduleMemo = z.infer<typeof ScheduleMemo>;

export const ScheduleRun = z.object({
  workflowId: z.string(),
  scheduledAt: z.string(),
  startedAt: z.string(),
});

export const ScheduleListItem = z.object({
  scheduleId: z.string(),
  paused: z.boolean(),
  note: z.string().nullable(),
  cron: z.string().nullable(),
  every: z.string().nullable(),
  configFile: z.string().nullable(),
  nextRuns: z.array(z.string()),
  recentRuns: z.array(ScheduleRun),
});
export type ScheduleListItem = z.infer<typeof ScheduleListItem>;

export const ScheduleDetails = ScheduleListItem.extend({
  timezone: z.string(),
  overlap: OverlapPolicy,
  catchupWindowMs: z.number(),
  pauseOnFailure: z.boolean(),
  configSha256: z.string().nullable(),
  taskQueue: z.string(),
  /** The config every run starts with. */
  config: z.unknown(),
  runsTaken: z.number(),
  runsSkippedForOverlap: z.number(),
  runsMissedCatchupWindow: z.number(),
  runningWorkflowIds: z.array(z.string()),
});
export type ScheduleDetails = z.infer<typeof ScheduleDetails>;

export const TriggerResult = z.object({
  scheduleId: z.string(),
  /** The pipeline the trigger started; null when the overlap policy skipped it. */
  workflowId: z.string().nullable(),
  skipped: z.boolean(),
});
export type TriggerResult = z.infer<typeof TriggerResult>;

/** Creates the schedule; the config file is read and validated now, once, for every run. */
export async function createSchedule(client: Client, request: ScheduleRequest): Promise<ScheduleDetails> {
  const configFile = path.resolve(request.configFile);
  const config = await loadConfigFile(configFile);
  const memo: ScheduleMemo = {
    configFile,
    configSha256: createHash('sha256').update(await readFile(configFile)).digest('hex'),
    ...(request.cron !== undefined ? { cron: request.cron } : { every: request.every }),
  };
  try {
    const handle = await client.schedule.create({
      scheduleId: request.scheduleId,
      spec: {
        ...(request.cron ? { cronExpressions: [request.cron] } : { intervals: [{ every: durationMs(request.every!) }] }),
        timezone: request.timezone,
      },
      action: {
        type: 'startWorkflow',
        workflowType: fineTunePipeline,
        // The server appends the scheduled time, so every run has its own id (and folder).
        workflowId: request.scheduleId,
        taskQueue: TASK_QUEUES.cpu,
        args: [{ config }],
        ...pipelineMetadata(config, { configFile, scheduleId: request.scheduleId }),
      },
      policies: {
        overlap: request.overlap,
        catchupWindow: durationMs(request.catchupWindow),
        pauseOnFailure: request.pauseOnFailure,
      },
      state: { paused: request.paused, note: request.note },
      memo,
    });
    return await describeHandle(handle);
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new ScheduleError(
        `schedule ${request.scheduleId} already exists: delete it first (tuneflow schedule delete ${request.scheduleId}) or choose another id`,
      );
    }
    if (err instanceof ScheduleError) throw err;
    throw new ScheduleError(`the server rejected schedule ${request.scheduleId}: ${(err as Error).message}`);
  }
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDetails> {
  return describeHandle(client.schedule.getHandle(scheduleId));
}

/** tuneflow's schedules (those that start FineTunePipeline); listing is eventually consistent. */
export async function listSchedules(client: Client): Promise<ScheduleListItem[]> {
  const items: ScheduleListItem[] = [];
  for await (const summary of client.schedule.list()) {
    if (summary.action?.workflowType !== fineTunePipeline.name) continue;
    items.push(listFields(summary));
  }
  return items.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export async function pauseSchedule(client: Client, scheduleId: string, note?: string): Promise<ScheduleDetails> {
  const handle = client.schedule.getHandle(scheduleId);
  await withSchedule(scheduleId, () => handle.pause(note ?? 'paused with tuneflow schedule pause'));
  return describeHandle(handle);
}

export async function unpauseSchedule(client: Client, scheduleId: string, note?: string): Promise<ScheduleDetails> {
  const handle = client.schedule.getHandle(scheduleId);
  await withSchedule(scheduleId, () => handle.unpause(note ?? 'unpaused with tuneflow schedule unpause'));
  return describeHandle(handle);
}

export async function deleteSchedule(client: Client, scheduleId: string): Promise<void> {
  await withSchedule(scheduleId, () => client.schedule.getHandle(scheduleId).delete());
}

/**
 * Runs the schedule's action now. By default with the schedule's own overlap policy (the SDK's
 * default would be ALLOW_ALL, which can double a running training), then waits briefly to
 * report which pipeline started, or that the policy skipped it.
 */
export async function triggerSchedule(
  client: Client,
  scheduleId: string,
  options: { overlap?: OverlapPolicy; waitMs?: number } = {},
): Promise<TriggerResult> {
  const handle = client.schedule.getHandle(scheduleId);
  const before = await withSchedule(scheduleId, () => handle.describe());
  await handle.trigger(options.overlap ?? before.policies.overlap);
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  for (;;) {
    const now = await handle.describe();
    if (now.info.numActionsTaken > before.info.numActionsTaken) {
      const latest = now.info.recentActions[now.info.recentActions.length - 1];
      return { scheduleId, workflowId: latest.action.workflow.workflowId, skipped: false };
    }
    if (now.info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap) {
      return { scheduleId, workflowId: null, skipped: true };
    }
    if (Date.now() > deadline) {
      throw new ScheduleError(
        `schedule ${scheduleId} accepted the trigger but started nothing within ${(options.waitMs ?? 10_000) / 1000} s; ` +
          `check it with tuneflow schedule describe ${scheduleId}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function withSchedule<T>(scheduleId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      throw new ScheduleError(`no schedule ${scheduleId} in this namespace (see tuneflow schedule list)`);
    }
    throw err;
  }
}

function memoOf(memo: Record<string, unknown> | undefined): ScheduleMemo | null {
  const parsed = ScheduleMemo.safeParse(memo);
  return parsed.success ? parsed.data : null;
}

function runsOf(actions: ScheduleSummary['info']['recentActions']): z.infer<typeof ScheduleRun>[] {
  return actions.map((a) => ({
    workflowId: a.action.workflow.workflowId,
    scheduledAt: a.scheduledAt.toISOString(),
    startedAt: a.takenAt.toISOString(),
  }));
}

/** The fields a list item and a description share, from either answer of the server. */
function listFields(schedule: ScheduleSummary | ScheduleDescription): ScheduleListItem {
  const memo = memoOf(schedule.memo);
  return ScheduleListItem.parse({
    scheduleId: schedule.scheduleId,
    paused: schedule.state.paused,
    note: schedule.state.note || null,
    cron: memo?.cron ?? null,
    every: memo?.every ?? null,
    configFile: memo?.configFile ?? null,
    nextRuns: schedule.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: runsOf(schedule.info.recentActions),
  });
}

async function describeHandle(handle: ScheduleHandle): Promise<ScheduleDetails> {
  const d: ScheduleDescription = await withSchedule(handle.scheduleId, () => handle.describe());
  const memo = memoOf(d.memo);
  return ScheduleDetails.parse({
    ...listFields(d),
    timezone: d.spec.timezone ?? 'UTC',
    overlap: d.policies.overlap,
    catchupWindowMs: d.policies.catchupWindow,
    pauseOnFailure: d.policies.pauseOnFailure,
    configSha256: memo?.configSha256 ?? null,
    taskQueue: d.action.taskQueue,
    config: (d.action.args?.[0] as { config?: unknown } | undefined)?.config ?? null,
    runsTaken: d.info.numActionsTaken,
    runsSkippedForOverlap: d.info.numActionsSkippedOverlap,
    runsMissedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
  });
}
