/**
 * The activities, grouped by the task queue whose worker runs them. Workflows import only the
 * types of these objects.
 */
import { Context } from '@temporalio/activity';
import { InvalidConfigError, InvalidDataError, nonRetryable } from '../lib/failures';
import type { CleanShardInput, CleanTaskResult } from '../lib/steps';
import { cleanShard, mergeClean, planClean } from './clean';
import { split } from './split';
import { register } from './register';
import { train } from './train';
import { planTraining } from './plan';
import { evaluate } from './evaluate';
import { mergeSummaries, planSummarize, summarizeShards } from './summarize';
import { report } from './report';

/** Input faults become typed, non-retryable failures: a retry would only fail the same way. */
function failFastOnBadInput<A extends unknown[], R>(step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await step(...args);
    } catch (err) {
      if (err instanceof InvalidDataError) throw nonRetryable('InvalidData', err.message, err);
      if (err instanceof InvalidConfigError) throw nonRetryable('InvalidConfig', err.message, err);
      throw err;
    }
  };
}

/** A clean shard heartbeats the rows read (visible in the UI) and stops when the activity is cancelled. */
async function cleanShardWithHeartbeats(input: CleanShardInput): Promise<CleanTaskResult> {
  const context = Context.current();
  return cleanShard(input, {
    onProgress: (rowsRead) => context.heartbeat({ step: 'clean', shard: input.task.index, file: input.task.file.path, rowsRead }),
    signal: context.cancellationSignal,
  });
}

export const cpuActivities = {
  planClean: failFastOnBadInput(planClean),
  cleanShard: failFastOnBadInput(cleanShardWithHeartbeats),
  mergeClean: failFastOnBadInput(mergeClean),
  split: failFastOnBadInput(split),
  register: failFastOnBadInput(register),
  planTraining: failFastOnBadInput(planTraining),
  report: failFastOnBadInput(report),
};

export const gpuActivities = {
  train: failFastOnBadInput(train),
  evaluate: failFastOnBadInput(evaluate),
  planSummarize: failFastOnBadInput(planSummarize),
  summarizeShards: failFastOnBadInput(summarizeShards),
  mergeSummaries: failFastOnBadInput(mergeSummaries),
};
