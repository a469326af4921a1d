/**
 * One pass over a workflow's history, read by every view of a workflow (the pipeline's steps,
 * BulkSummarize's shards): the activities it scheduled with their types, summaries and attempts,
 * the arguments and result of those that completed, the child it started, its input and result.
 */
import type { WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describeDecoded, fetchDecodedHistory, type History } from '../../lib/decoded-reads';

export interface ActivityRecord {
  type: string;
  args: Payload[];
  /**
   * Highest attempt the history shows: a scheduled activity is on its first, as the UI counts,
   * even before a worker starts it; an ended one's started event (written when it ends) has its last.
   */
  attempts: number;
  completed: boolean;
  /** A completed activity's result. */
  result: Payload | null;
}

export interface HistoryReading {
  /** The workflow's first argument. */
  input: Payload | null;
  /** In the order they were scheduled. */
  activities: ActivityRecord[];
  /** Activity summaries (user metadata of the scheduled event), by activity id. */
  summaryOf: ReadonlyMap<string, string>;
  /** The last child workflow it started. */
  childWorkflowId: string | null;
  /** Its result, once it completed. */
  result: Payload | null;
}

function readHistory(history: History): HistoryReading {
  const events = history.events ?? [];
  const byScheduledEvent = new Map<string, ActivityRecord>();
  const summaryOf = new Map<string, string>();
  let childWorkflowId: string | null = null;
  let result: Payload | null = null;
  for (const event of events) {
    childWorkflowId = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? childWorkflowId;
    result ??= event.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0] ?? null;
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled && event.eventId != null) {
      byScheduledEvent.set(String(event.eventId), {
        type: scheduled.activityType?.name ?? '',
        args: scheduled.input?.payloads ?? [],
        attempts: 1,
        completed: false,
        result: null,
      });
    }
    const summary = event.userMetadata?.summary;
    if (scheduled?.activityId && summary) summaryOf.set(scheduled.activityId, defaultPayloadConverter.fromPayload<string>(summary));
    const started = event.activityTaskStartedEventAttributes;
    const startedActivity = started && byScheduledEvent.get(String(started.scheduledEventId));
    if (startedActivity) startedActivity.attempts = Math.max(startedActivity.attempts, started.attempt ?? 1);
    const completed = event.activityTaskCompletedEventAttributes;
    const completedActivity = completed && byScheduledEvent.get(String(completed.scheduledEventId));
    if (completedActivity) {
      completedActivity.completed = true;
      completedActivity.result = completed.result?.payloads?.[0] ?? null;
    }
  }
  return {
    input: events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] ?? null,
    activities: [...byScheduledEvent.values()],
    summaryOf,
    childWorkflowId,
    result,
  };
}

/**
 * What a view reads of one workflow: its description (pending activities and children) and its
 * history, decoded with the client's payload codecs (lib/payload-codec.ts).
 */
export async function readWorkflow(
  handle: WorkflowHandle,
): Promise<{ description: WorkflowExecutionDescription; history: HistoryReading }> {
  const [description, history] = await Promise.all([describeDecoded(handle), fetchDecodedHistory(handle)]);
  return { description, history: readHistory(history) };
}
