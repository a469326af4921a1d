/**
 * Failure types the workflow treats as final. Each names an `ApplicationFailure.type`; activity
 * retry policies list them as non-retryable, so a bad config or bad data fails at once.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { FailureKind } from './events';

export const FAILURE_TYPES = {
  InvalidConfig: 'InvalidConfig',
  InvalidData: 'InvalidData',
  OutOfMemory: 'OutOfMemory',
} as const satisfies Partial<Record<FailureKind, string>>;

export const NON_RETRYABLE_FAILURE_TYPES = Object.values(FAILURE_TYPES);

export function nonRetryable(type: keyof typeof FAILURE_TYPES, message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type: FAILURE_TYPES[type], message, nonRetryable: true, cause });
}
