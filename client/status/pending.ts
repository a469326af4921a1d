/**
 * What a workflow's description says of an activity that is running or waiting to retry: it is
 * not in the history until it ends.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { StepHeartbeat } from '../../lib/python-step/protocol';

export type PendingActivity = NonNullable<WorkflowExecutionDescription['raw']['pendingActivities']>[number];

export interface RunningActivity {
  summary: string | null;
  heartbeat: StepHeartbeat | null;
  lastFailure: string | null;
}

/** The activity's last heartbeat, if it sent a readable one. */
export function heartbeatOf(activity: PendingActivity | undefined): StepHeartbeat | null {
  const payload = activity?.heartbeatDetails?.payloads?.[0];
  const parsed = payload ? StepHeartbeat.safeParse(defaultPayloadConverter.fromPayload(payload)) : null;
  return parsed?.success ? parsed.data : null;
}

/** Its summary (from the history's scheduled event), heartbeat and the failure of its last attempt. */
export function runningActivity(activity: PendingActivity, summaryOf: ReadonlyMap<string, string>): RunningActivity {
  return {
    summary: summaryOf.get(activity.activityId ?? '') ?? null,
    heartbeat: heartbeatOf(activity),
    lastFailure: activity.lastFailure?.message ?? null,
  };
}
