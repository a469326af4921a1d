/**
 * The cause of a failure, as a person should read it: Temporal wraps a step's own error (an
 * `ApplicationFailure` with its type and advice) in an `ActivityFailure` whose message is only
 * "Activity task failed", and a child workflow's in a `ChildWorkflowFailure` on top. One walk
 * down the `cause` chain, used by the workflow's `progress.error` and by the CLI alike, so both
 * say what failed, where, and what to do. Workflow-safe: no I/O.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/common';
import { AttemptDetail } from './failures';

export interface FailureCause {
  /** The innermost failure's type (`InvalidData`, `PythonStepCrashed`, `Timeout`...). */
  type: string;
  /** The innermost failure's message: the step's own words, with their advice. */
  message: string;
  /** The activity that failed, where the chain passes through one. */
  activityType: string | null;
  /** Why Temporal stopped retrying it (`NON_RETRYABLE_FAILURE`, `MAXIMUM_ATTEMPTS_REACHED`...). */
  retryState: string | null;
  /** The activity attempt that ended so (stamped by the activities layer); null outside activities. */
  attempt: number | null;
}

export function failureCause(err: unknown): FailureCause {
  let activityType: string | null = null;
  let retryState: string | null = null;
  let attempt: number | null = null;
  // The step's own failure is the innermost ApplicationFailure (or timeout): below it hangs only
  // the local error it was made from, which reaches the client as a bare, untyped copy.
  let stated: Error | null = null;
  let node: Error = err instanceof Error ? err : new Error(String(err));
  for (;;) {
    if (node instanceof ActivityFailure) {
      activityType = node.activityType;
      retryState = node.retryState ?? null;
    } else if (node instanceof ChildWorkflowFailure && retryState === null) {
      retryState = node.retryState ?? null;
    } else if (node instanceof ApplicationFailure || node instanceof TimeoutFailure) {
      stated = node;
      attempt = (node instanceof ApplicationFailure ? attemptOf(node) : null) ?? attempt;
    }
    if (!(node.cause instanceof Error)) break;
    node = node.cause;
  }
  const cause = stated ?? node;
  return { type: failureType(cause), message: cause.message, activityType, retryState, attempt };
}

function attemptOf(failure: ApplicationFailure): number | null {
  for (const detail of failure.details ?? []) {
    const parsed = AttemptDetail.safeParse(detail);
    if (parsed.success) return parsed.data.attempt;
  }
  return null;
}

function failureType(err: Error): string {
  if (err instanceof ApplicationFailure && err.type) return err.type;
  if (err instanceof TimeoutFailure) return `Timeout(${err.timeoutType})`;
  return err.name;
}

/** `InvalidData in clean (activity planClean, attempt 1, final: ...): <the step's message, with its advice>`. */
export function describeFailure(err: unknown, step?: string): string {
  const cause = failureCause(err);
  const details = [
    cause.activityType && cause.activityType !== step ? `activity ${cause.activityType}` : null,
    cause.attempt !== null ? `attempt ${cause.attempt}` : null,
    RETRY_WORDS[cause.retryState ?? ''] ?? null,
  ].filter((detail): detail is string => detail !== null);
  const place = step ? ` in ${step}` : '';
  return `${cause.type}${place}${details.length > 0 ? ` (${details.join(', ')})` : ''}: ${cause.message}`;
}

const RETRY_WORDS: Record<string, string> = {
  NON_RETRYABLE_FAILURE: 'final: a retry would fail the same way',
  MAXIMUM_ATTEMPTS_REACHED: 'after its last attempt',
  TIMEOUT: 'out of time for retries',
};
