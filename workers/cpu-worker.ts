/**
 * CPU worker: runs the pipeline workflows and the light steps (clean, split, register, the run
 * report).
 * Scale out by starting more of these on any host that sees storage.root.
 */
import * as path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { cpuActivities } from '../activities';
import { TASK_QUEUES } from '../lib/task-queues';
import { temporalSettings } from '../lib/temporal-settings';

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
    workflowsPath: path.resolve(__dirname, '../workflows/index.ts'),
    activities,
    maxConcurrentActivityTaskExecutions: 4,
    shutdownGraceTime: '30 seconds',
  });
}

async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address: temporalSettings.address });
  const worker = await createCpuWorker(connection, temporalSettings.namespace);
  console.log(`cpu worker: polling ${TASK_QUEUES.cpu} on ${temporalSettings.address}`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
