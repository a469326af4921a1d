/**
 * GPU worker: runs train, evaluate and summarize shards, one activity per GPU it owns, and a
 * generation engine per GPU for the shards. With no GPU it runs them on the CPU and says so. On
 * SIGTERM a running training is stopped after its step and writes a last checkpoint, within
 * lib/shutdown-grace.ts's budget.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { gpuActivities } from '../activities';
import { pythonExecutable, startGenerationEngines, stopGenerationEngines, type EnginePool, type GenerationEngine } from '../lib/python-step';
import { tuneflowDataConverter } from '../lib/payload-codec';
import { SHUTDOWN_BUDGET } from '../lib/shutdown-grace';
import { TASK_QUEUES } from '../lib/task-queues';
import { gpuWorkerIdentity } from '../lib/worker-identity';
import { runWorker } from './run-worker';

export interface Accelerators {
  count: number;
  names: string[];
}

/** Asks torch (the library that will use them) which CUDA devices this host has. */
export async function detectAccelerators(): Promise<Accelerators> {
  const probe =
    'import json, torch; n = torch.cuda.device_count(); ' +
    'print(json.dumps([torch.cuda.get_device_name(i) for i in range(n)]))';
  const { stdout } = await execa(pythonExecutable(), ['-c', probe]);
  const names = JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as string[];
  return { count: names.length, names };
}

export async function createGpuWorker(
  connection: NativeConnection,
  namespace: string,
  accelerators: Accelerators,
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue: TASK_QUEUES.gpu,
    // Encrypted payloads and failures when TUNEFLOW_CODEC_KEYS is set (lib/payload-codec.ts).
    dataConverter: tuneflowDataConverter(),
    activities: gpuActivities,
    // Its devices, for the preflight on a CPU worker to read from the queue's pollers.
    identity: gpuWorkerIdentity(accelerators.count),
    // One job per GPU: two trainings sharing a device would both run out of memory.
    maxConcurrentActivityTaskExecutions: Math.max(1, accelerators.count),
    shutdownGraceTime: SHUTDOWN_BUDGET.gpu.activityGraceSeconds * 1000,
    // Cancellation reaches an activity only in a heartbeat's response: heartbeats must not be
    // held back for long (the default throttle is up to 30 s), or a cancelled training runs on.
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
  });
}

/**
 * The worker's generation engines, one per GPU (one on the CPU without): Python started and
 * models kept loaded for every summarize shard this worker runs; one that dies is replaced.
 */
export function startEngines(accelerators: Accelerators): EnginePool {
  const engines = startGenerationEngines(accelerators.count);
  const started = (engine: GenerationEngine) => console.log(`gpu worker: generation engine started (pid ${engine.pid})`);
  engines.started.forEach(started);
  engines.on('started', started);
  engines.on('ready', (engine: GenerationEngine, seconds: number) =>
    console.log(`gpu worker: generation engine ready (pid ${engine.pid}, ${seconds.toFixed(1)} s to start)`),
  );
  return engines;
}

if (require.main === module) {
  runWorker(
    'gpu worker',
    async (connection, namespace) => {
      const accelerators = await detectAccelerators();
      if (accelerators.count === 0) {
        console.log('gpu worker: no CUDA device found: train, evaluate and summarize will run on the CPU');
      } else {
        console.log(`gpu worker: ${accelerators.count} GPU(s): ${accelerators.names.join(', ')}`);
      }
      startEngines(accelerators);
      return createGpuWorker(connection, namespace, accelerators);
    },
    stopGenerationEngines,
  );
}
