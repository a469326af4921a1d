/**
 * The activities, grouped by the task queue whose worker runs them. Workflows import only the
 * types of these objects.
 */
import { Context } from '@temporalio/activity';
import { InvalidDataError } from '../lib/failures';
import type { CleanResult, CleanShardInput, CleanTaskResult, StepInput } from '../lib/steps';
import { InvalidConfigError } from '../lib/failures';
import { nonRetryable } from '../lib/failures';
import { clean, cleanShard, mergeClean, planClean } from './clean';
import { split } from './split';
import { register } from './register';
import { train } from './train';
import { planTraining } from './plan';
import { evaluate } from './evaluate';
import { mergeSummaries, planSummarize, summarize, summarizeShards } from './summarize';
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

/** clean heartbeats the rows read (visible in the UI) and stops when the activity is cancelled. */
async function cleanWithHeartbeats(input: StepInput): Promise<CleanResult> {
  const context = Context.current();
  return clean(input, {
    onProgress: (rowsRead) => context.heartbeat({ step: 'clean', rowsRead }),
    signal: context.cancellationSignal,
  });
}

async function cleanShardWithHeartbeats(input: CleanShardInput): Promise<CleanTaskResult> {
  const context = Context.current();
  return cleanShard(input, {
    onProgress: (rowsRead) => context.heartbeat({ step: 'clean', shard: input.task.index, file: input.task.file.path, rowsRead }),
    signal: context.cancellationSignal,
  });
}

export const cpuActivities = {
  clean: failFastOnBadInput(cleanWithHeartbeats),
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
  summarize: failFastOnBadInput(summarize),
  planSummarize: failFastOnBadInput(planSummarize),
  summarizeShards: failFastOnBadInput(summarizeShards),
  mergeSummaries: failFastOnBadInput(mergeSummaries),
};
