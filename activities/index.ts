/**
 * The activities, grouped by the task queue whose worker runs them. Workflows import only the
 * types of these objects.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { InvalidConfigError, InvalidDataError, nonRetryable, withAttempt } from '../lib/failures';
import { storageFault } from '../lib/storage-fault';
import { throughStorage } from '../lib/storage/boundary';
import type { CleanShardInput, CleanTaskResult } from '../lib/steps';
import { cleanShard, mergeClean, planClean } from './clean';
import { split } from './split';
import { register } from './register';
import { train } from './train';
import { preflight } from './preflight';
import { evaluate } from './evaluate';
import { mergeSummaries, planSummarize, summarizeShards } from './summarize';
import { report } from './report';
import { lookupStepCache, recordStepCache } from './step-cache';

/**
 * Every failure leaves an activity typed, with the attempt it ended: input faults become
 * non-retryable failures (a retry would only fail the same way), and the attempt number reaches
 * the cause a person reads (lib/failure-cause.ts).
 */
function typedFailures<A extends unknown[], R>(step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await step(...args);
    } catch (err) {
      // A cancellation (a person's, or the worker shutting down) must reach the SDK as itself.
      if (err instanceof TemporalFailure && !(err instanceof ApplicationFailure)) throw err;
      throw withAttempt(typed(err), Context.current().info.attempt);
    }
  };
}

function typed(err: unknown): ApplicationFailure {
  if (err instanceof InvalidDataError) return nonRetryable('InvalidData', err.message, err);
  if (err instanceof InvalidConfigError) return nonRetryable('InvalidConfig', err.message, err);
  if (err instanceof ApplicationFailure) return err;
  // A read-only or full storage.root: retried (the person fixes the volume), named as such.
  const storage = storageFault(err);
  if (storage) return storage;
  const error = err instanceof Error ? err : new Error(String(err));
  // What the SDK would make of it (the error's name as the type, retryable), made here to carry the attempt.
  return ApplicationFailure.create({ type: error.name, message: error.message, cause: error });
}

/** A clean shard heartbeats the rows read (visible in the UI) and stops when the activity is cancelled. */
async function cleanShardWithHeartbeats(input: CleanShardInput): Promise<CleanTaskResult> {
  const context = Context.current();
  return cleanShard(input, {
    onProgress: (rowsRead) => context.heartbeat({ step: 'clean', shard: input.task.index, file: input.task.file.path, rowsRead }),
    signal: context.cancellationSignal,
  });
}

// Each step's activities run on local files; with an s3:// storage.root the boundary moves them.
export const cpuActivities = {
  preflight: typedFailures(preflight),
  planClean: typedFailures(throughStorage('clean', planClean)),
  cleanShard: typedFailures(throughStorage('clean', cleanShardWithHeartbeats)),
  mergeClean: typedFailures(throughStorage('clean', mergeClean)),
  split: typedFailures(throughStorage('split', split)),
  register: typedFailures(throughStorage('register', register)),
  report: typedFailures(throughStorage('report', report)),
  planSummarize: typedFailures(throughStorage('summarize', planSummarize, 'whole')),
  mergeSummaries: typedFailures(throughStorage('summarize', mergeSummaries, 'whole')),
  lookupStepCache: typedFailures(lookupStepCache),
  recordStepCache: typedFailures(recordStepCache),
};

export const gpuActivities = {
  train: typedFailures(throughStorage('train', train, 'state')),
  evaluate: typedFailures(throughStorage('evaluate', evaluate)),
  summarizeShards: typedFailures(throughStorage('summarize', summarizeShards, 'whole')),
};
