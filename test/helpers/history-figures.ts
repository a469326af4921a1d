/** Figures a fault test reads from a workflow's history: when things happened, what was retried. */
import type { WorkflowHandle } from '@temporalio/client';

/** An event's time in milliseconds since the epoch. */
export function eventMillis(time: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
}

/** Activities that needed more than one attempt: `train x2`. */
export async function retriedActivities(handle: WorkflowHandle): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map(events.map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name]));
  return events
    .filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
    .map((e) => `${typeOf.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId))} x${e.activityTaskStartedEventAttributes!.attempt}`);
}
