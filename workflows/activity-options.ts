/**
 * How long each kind of activity may take, how soon a silent worker counts as dead and how
 * failures retry: the one place these are decided. Workflows call steps through these proxies.
 */
import { ActivityCancellationType, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { cpuActivities, gpuActivities } from '../activities';
import { NON_RETRYABLE_FAILURE_TYPES } from '../lib/failures';
import type { PipelineConfig } from '../lib/config';
import { TASK_QUEUES } from '../lib/task-queues';

/**
 * Waits double from `initialInterval` up to `maximumInterval` (Infinity attempts: no limit).
 * Input faults never retry: a retry would only fail the same way.
 */
function retryPolicy(initialInterval: Duration, maximumInterval: Duration, maximumAttempts: number): RetryPolicy {
  return { initialInterval, backoffCoefficient: 2, maximumInterval, maximumAttempts, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES };
}

/**
 * GPU steps stop their processes when cancelled; waiting for that means a cancelled run is
 * really over (its GPU free) when it says so.
 */
const WAIT_FOR_PROCESSES = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

/**
 * The preflight answers within seconds (a minute at most while MLflow starts): three attempts
 * cover a worker lost mid-check; its findings are final where a retry cannot change them.
 */
export const preflighting = proxyActivities<Pick<typeof cpuActivities, 'preflight'>>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: retryPolicy('2 seconds', '10 seconds', 3),
});

/**
 * clean, split, register: CPU work of minutes to hours that heartbeats as it goes;
 * eight attempts, the first two seconds apart, ride out a restarting worker or service.
 */
export const light = proxyActivities<Omit<typeof cpuActivities, 'report' | 'preflight'>>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 minutes',
  retry: retryPolicy('2 seconds', '5 minutes', 8),
});

/**
 * Training runs for days; infrastructure faults retry without limit, resuming from checkpoints.
 * The heartbeat timeout (how soon a dead worker is noticed) comes from the config.
 */
export function training(config: PipelineConfig) {
  return proxyActivities<Pick<typeof gpuActivities, 'train'>>({
    taskQueue: TASK_QUEUES.gpu,
    startToCloseTimeout: '14 days',
    heartbeatTimeout: `${config.train.heartbeatTimeoutSeconds} seconds`,
    cancellationType: WAIT_FOR_PROCESSES,
    retry: retryPolicy('10 seconds', '10 minutes', Infinity),
  });
}

/** Evaluation generates on the GPU for up to a day; a fault that outlasts five attempts is not transient. */
export const generation = proxyActivities<Pick<typeof gpuActivities, 'evaluate'>>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '2 minutes',
  cancellationType: WAIT_FOR_PROCESSES,
  retry: retryPolicy('10 seconds', '10 minutes', 5),
});

/**
 * The run report reads results and renders plots: a few retries cover a flaky MLflow or worker;
 * past them the pipeline still completes (its model is registered) with the report marked failed.
 */
export const reporting = proxyActivities<Pick<typeof cpuActivities, 'report'>>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: retryPolicy('5 seconds', '1 minute', 3),
});

/**
 * BulkSummarize's activities: the shards on GPU workers, planning and merging (DuckDB
 * bookkeeping, no model) on CPU workers. The shards heartbeat every 5 s and on each batch: a
 * worker silent for `heartbeatTimeoutSeconds` is dead, and the retry elsewhere loses at most the
 * shard it was on.
 */
export function bulkSummarizing(heartbeatTimeoutSeconds: number) {
  const heartbeatTimeout: Duration = `${heartbeatTimeoutSeconds} seconds`;
  const retry = retryPolicy('10 seconds', '10 minutes', 5);
  return {
    /** Planning reads the cleaned data and writes the inputs; merging joins them with the shards' summaries. */
    light: proxyActivities<Pick<typeof cpuActivities, 'planSummarize' | 'mergeSummaries'>>({
      taskQueue: TASK_QUEUES.cpu,
      startToCloseTimeout: '2 hours',
      heartbeatTimeout,
      retry,
    }),
    /** Generating a batch of shards runs for hours. */
    shards: proxyActivities<Pick<typeof gpuActivities, 'summarizeShards'>>({
      taskQueue: TASK_QUEUES.gpu,
      startToCloseTimeout: '1 day',
      heartbeatTimeout,
      retry,
    }),
  };
}
