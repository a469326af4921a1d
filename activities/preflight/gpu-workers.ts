/**
 * The `gpuWorkers` check: some GPU worker polling the GPU queue can run the training config. The
 * workers state their devices in their identity (lib/worker-identity.ts); this reads the queue's
 * pollers from Temporal, so the check runs here, on a CPU worker, before any GPU is held. With no
 * GPU worker polling, training waits for one: the check is skipped, not failed.
 */
import { Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import type { PipelineConfig } from '../../lib/config';
import { nonRetryable } from '../../lib/failures';
import { TASK_QUEUES } from '../../lib/task-queues';
import { parseGpuWorkerIdentity, type GpuWorkerFacts } from '../../lib/worker-identity';

export type GpuCheck = { state: 'passed' | 'skipped'; detail: string };

export async function checkGpuWorkers(config: PipelineConfig): Promise<GpuCheck> {
  const context = Context.current();
  const { pollers } = await context.client.workflowService.describeTaskQueue({
    namespace: context.info.activityNamespace,
    taskQueue: { name: TASK_QUEUES.gpu },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  const workers = (pollers ?? [])
    .map((poller) => parseGpuWorkerIdentity(poller.identity ?? ''))
    .filter((facts): facts is GpuWorkerFacts => facts !== null);
  if (workers.length === 0) {
    return { state: 'skipped', detail: `no tuneflow GPU worker polls ${TASK_QUEUES.gpu} now: train waits for one` };
  }
  return { state: 'passed', detail: gpuWorkersFit(config.train, workers) };
}

/** The workers' fit for `train`, or an InvalidConfig failure saying why none can run it. */
export function gpuWorkersFit(train: PipelineConfig['train'], workers: readonly GpuWorkerFacts[]): string {
  const listed = workers.map((w) => `${w.host} (${w.cudaDevices} GPU${w.dsAccelerator ? `, DS_ACCELERATOR=${w.dsAccelerator}` : ''})`).join(', ');
  const most = Math.max(...workers.map((w) => w.cudaDevices));
  if (train.deepspeed !== null && most === 0 && !workers.some((w) => w.dsAccelerator === 'cpu')) {
    throw nonRetryable(
      'InvalidConfig',
      `train.deepspeed needs CUDA GPUs, but the GPU workers polling ${TASK_QUEUES.gpu} have none: ${listed}. ` +
        'Set train.deepspeed: null to train without DeepSpeed, start a GPU worker on a CUDA host, ' +
        'or set DS_ACCELERATOR=cpu on the worker to run ZeRO on CPUs',
    );
  }
  // A hostfile's ranks run on its hosts, not only on the worker's: their GPUs are not listed
  // here. Ranks on CPUs (DS_ACCELERATOR=cpu) need no GPU each.
  const cpuRanks = workers.some((w) => w.dsAccelerator === 'cpu');
  if (train.hostfile === null && !cpuRanks && train.numGpus > 1 && most < train.numGpus) {
    throw nonRetryable(
      'InvalidConfig',
      `train.numGpus ${train.numGpus} is more than any GPU worker polling ${TASK_QUEUES.gpu} has: ${listed}. ` +
        `Lower train.numGpus to ${Math.max(most, 1)}, or start a GPU worker on a host with ${train.numGpus} GPUs`,
    );
  }
  return `${workers.length} GPU worker(s): ${listed}`;
}
