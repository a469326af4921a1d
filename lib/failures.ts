/**
 * Every error class and failure type of tuneflow, in one place.
 *
 * - `InvalidConfigError` and `InvalidDataError` are thrown by TypeScript steps for faults that a
 *   retry cannot fix; the activities layer turns them into non-retryable `ApplicationFailure`s.
 * - The MLflow client's and the CLI's own errors (`MlflowApiError`, `MlflowUnavailableError`,
 *   `ScheduleError`, `InvalidOptionsError`), and `InvalidEnvironmentError` for the payload codec's keys.
 * - `FailureKind` is what a Python step reports in its `error` event
 *   (python/tuneflow_ml/events.py FAILURE_KINDS; a test checks that both lists are equal).
 * - `FAILURE_TYPES` names every `ApplicationFailure.type` tuneflow raises; activity retry
 *   policies list `NON_RETRYABLE_FAILURE_TYPES`, so a bad config or bad data fails at once.
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';

/** A config that cannot be used: the source (file, field or `(inline)`) and every bad field. */
export class InvalidConfigError extends Error {
  readonly name = 'InvalidConfigError';
  constructor(
    readonly source: string,
    readonly details: string,
  ) {
    super(`invalid config ${source}:\n${details}\nFix the fields above (see configs/demo.yaml for a complete example).`);
  }
}

/** An input file that cannot be used as a whole: missing, empty, wrong format, too little data. */
export class InvalidDataError extends Error {
  readonly name = 'InvalidDataError';
  constructor(
    /** The offending file (absolute path). */
    readonly file: string,
    /** What is wrong with it. */
    readonly problem: string,
    /** What to do about it. */
    readonly remedy: string,
  ) {
    super(`invalid data in ${file}: ${problem}. ${remedy}`);
  }
}

/** An MLflow REST call MLflow answered with an error: the call, the HTTP status and MLflow's code. */
export class MlflowApiError extends Error {
  readonly name = 'MlflowApiError';
  constructor(
    readonly call: string,
    readonly status: number,
    readonly errorCode: string,
    detail: string,
  ) {
    super(`MLflow ${call} failed: HTTP ${status} ${errorCode}: ${detail}`);
  }
}

/** MLflow did not answer within the client's retries (down, or unreachable from this host). */
export class MlflowUnavailableError extends Error {
  readonly name = 'MlflowUnavailableError';
  constructor(
    readonly trackingUri: string,
    readonly call: string,
    /** The last attempt's reason: `connect ECONNREFUSED 127.0.0.1:5000`, an HTTP 503... */
    readonly reason: string,
    attempts: number,
  ) {
    super(
      `MLflow at ${trackingUri} did not answer ${call} after ${attempts} attempt(s) (${reason}). ` +
        'Start it with `bash scripts/services.sh start` or check mlflow.trackingUri.',
    );
  }
}

/**
 * A request the object store refused or did not answer (past the SDK's retries): the operation,
 * the URI, the store's reason and what to do. Retryable: the activity's type is its name.
 */
export class ObjectStoreError extends Error {
  readonly name = 'ObjectStoreError';
}

/** An upload that moved no byte for storage.uploadStallSeconds (retryable, its type is its name). */
export class UploadStalled extends Error {
  readonly name = 'UploadStalled';
}

/** A schedule operation that cannot be done as asked (no such schedule, a changed config file). */
export class ScheduleError extends Error {
  readonly name = 'ScheduleError';
}

/** A CLI option that does not parse: the message names the flag, the problem and the command. */
export class InvalidOptionsError extends Error {
  readonly name = 'InvalidOptionsError';
}

/** Environment variables that do not parse (the payload codec's keys): each variable, its problem, what to do. */
export class InvalidEnvironmentError extends Error {
  readonly name = 'InvalidEnvironmentError';
}

/** Kinds of a Python step's `error` event. */
export const FailureKind = z.enum(['InvalidConfig', 'InvalidData', 'OutOfMemory', 'StorageUnwritable', 'Internal']);
export type FailureKind = z.infer<typeof FailureKind>;

export const FAILURE_TYPES = {
  InvalidConfig: 'InvalidConfig',
  InvalidData: 'InvalidData',
  OutOfMemory: 'OutOfMemory',
  /** A Python step wrote an event that breaks lib/python-step/protocol.ts. */
  ProtocolError: 'ProtocolError',
  /** A Python step reported an `Internal` error (a bug or an infrastructure fault): retried. */
  PythonStepError: 'PythonStepError',
  /** A Python step exited without a result (killed, or crashed before it could report). */
  PythonStepCrashed: 'PythonStepCrashed',
  /**
   * MLflow did not answer the preflight for its whole retry budget (`mlflow.preflightRetrySeconds`):
   * final there, so a wrong URI fails in a minute. Later steps retry an MLflow outage as before.
   */
  MlflowUnavailable: 'MlflowUnavailable',
  /** The preflight found problems of several types; the message lists each. */
  PreflightFailed: 'PreflightFailed',
  /**
   * A write under storage.root was refused by the storage itself (read-only, full, over quota):
   * retried, so the step goes on by itself once the volume is writable again (lib/storage-fault.ts).
   */
  StorageUnwritable: 'StorageUnwritable',
  /**
   * A rank of a launcher step (one per GPU, on this host or a hostfile's node) vanished without
   * reporting an error: killed, or its node lost. The gang is stopped; retried (an infrastructure fault).
   */
  RankLost: 'RankLost',
  /**
   * The object store (an s3:// storage.root) refused or did not answer a request past the SDK's
   * retries: retried, with the URI and the store's reason (lib/storage/object-store.ts).
   */
  ObjectStoreError: 'ObjectStoreError',
  /** An upload moved no byte for storage.uploadStallSeconds: failed loudly (retried) instead of hanging. */
  UploadStalled: 'UploadStalled',
  /** train failed the same way `train.crashLoopAttempts` attempts in a row: a bug, not a fault. Final. */
  CrashLoop: 'CrashLoop',
} as const;
export type FailureType = keyof typeof FAILURE_TYPES;

/** Failures that a retry would only repeat: bad config, bad data, a model too big for the device, a crash loop. */
export const NON_RETRYABLE_FAILURE_TYPES: string[] = [
  FAILURE_TYPES.InvalidConfig,
  FAILURE_TYPES.InvalidData,
  FAILURE_TYPES.OutOfMemory,
  FAILURE_TYPES.CrashLoop,
];

/** The failure type of a Python step's `error` event: its kind where tuneflow names it as final. */
export function failureTypeOfKind(kind: FailureKind): FailureType {
  return kind === 'Internal' ? 'PythonStepError' : kind;
}

export function nonRetryable(type: FailureType, message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type: FAILURE_TYPES[type], message, nonRetryable: true, cause });
}

/** The attempt an activity's failure ended, as failure-cause.ts reads it back from the details. */
export const AttemptDetail = z.object({ attempt: z.number().int().positive() });

/** `failure` again, with the attempt it ended in its details (its type, message, finality and cause kept). */
export function withAttempt(failure: ApplicationFailure, attempt: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: failure.type ?? undefined,
    message: failure.message,
    nonRetryable: failure.nonRetryable ?? false,
    nextRetryDelay: failure.nextRetryDelay ?? undefined,
    category: failure.category ?? undefined,
    details: [{ attempt } satisfies z.infer<typeof AttemptDetail>, ...(failure.details ?? [])],
    cause: failure.cause,
  });
}
