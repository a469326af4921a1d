/**
 * CPU worker: runs the pipeline workflows and the light steps (clean, split, register, the run
 * report).
 * Scale out by starting more of these on any host that sees storage.root.
 */
import * as path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { cpuActivities } from '../activities';
import { tuneflowDataConverter } from '../lib/payload-codec';
import { SHUTDOWN_BUDGET } from '../lib/shutdown-grace';
import { TASK_QUEUES } from '../lib/task-queues';
import { runWorker } from './run-worker';

/** `activities` replaces the real ones in tests that make a step fail on purpose. */
export async function createCpuWorker(
  connection: NativeConnection,
  namespace: string,
  activities: typeof cpuActivities = cpuActivities,
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue: TASK_QUEUES.cpu,
    // Encrypted payloads and failures when TUNEFLOW_CODEC_KEYS is set (lib/payload-codec.ts).
    dataConverter: tuneflowDataConverter(),
    workflowsPath: path.resolve(__dirname, '../workflows/index.ts'),
    activities,
    maxConcurrentActivityTaskExecutions: 4,
    shutdownGraceTime: SHUTDOWN_BUDGET.cpu.activityGraceSeconds * 1000,
  });
}

if (require.main === module) runWorker('cpu worker', createCpuWorker);
