/**
 * Durable training on the real Temporal dev server and MLflow server, with real training on the
 * tiny T5: a GPU worker SIGKILLed mid-training costs at most one checkpoint interval, and a
 * cancelled pipeline leaves no process behind.
 */
import * as path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { fineTunePipeline } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { MlflowClient } from '../../lib/mlflow';
import type { PipelineConfigInput } from '../../lib/config';
import { PipelineResult } from '../../lib/pipeline';
import { REPO_ROOT } from '../../lib/artifacts';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

const CHECKPOINT_EVERY = 20;

function testConfig(modelName: string, train: PipelineConfigInput['train']): PipelineConfigInput {
  return {
    name: 'durable-training-test',
    data: { input: fixture.data, category: 'Camera' },
    model: { nameOrPath: fixture.model, maxSourceLength: 128, maxTargetLength: 24 },
    train: { epochs: 1, perDeviceTrainBatchSize: 8, loggingSteps: 5, heartbeatTimeoutSeconds: 5, ...train },
    evaluate: { maxSamples: 20, maxNewTokens: 8 },
    summarize: { minReviews: 10, numBeams: 1, minNewTokens: 2, maxNewTokens: 8, perReview: false },
    register: { modelName },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  };
}

beforeAll(async () => {
  workDir = await tempDir('durable');
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 1200, 30)]);
});

afterAll(async () => {
  await env?.teardown();
});

/** A GPU worker in its own process, as in production: the test can SIGKILL it. */
function startGpuWorkerProcess(): ResultPromise {
  return execa(path.join(REPO_ROOT, 'bin', 'ts-run'), [path.join(REPO_ROOT, 'workers', 'gpu-worker.ts')], {
    cwd: REPO_ROOT,
    env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', TUNEFLOW_QUIET_PYTHON: '1' },
    reject: false,
  });
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** PIDs of every process of a pipeline's training (launcher and ranks name its spec file). */
async function trainingProcesses(pipelineId: string): Promise<number[]> {
  const specPath = path.join(workDir, 'runs', pipelineId, 'train', 'spec.json');
  const { stdout } = await execa('pgrep', ['-f', specPath], { reject: false });
  return stdout.split('\n').filter(Boolean).map(Number);
}

type Pointer = { checkpoint: string; globalStep: number };

test('a GPU worker SIGKILLed after the second checkpoint: a new worker resumes there, one model version', async () => {
  const pipelineId = `kill-${Date.now()}`;
  const modelName = `tuneflow-kill-test-${Date.now()}`;
  const maxSteps = 5 * CHECKPOINT_EVERY;
  const pointerFile = path.join(workDir, 'runs', pipelineId, 'train', 'latest-checkpoint.json');
  const cpuWorker = await createCpuWorker(env.nativeConnection, env.namespace ?? 'default');

  const outcome = await cpuWorker.runUntil(async () => {
    const handle = await env.client.workflow.start(fineTunePipeline, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: pipelineId,
      args: [{ config: testConfig(modelName, { maxSteps, checkpointEverySteps: CHECKPOINT_EVERY }) }],
    });
    const doomed = startGpuWorkerProcess();
    const atKill = await waitFor('the second checkpoint', async () => {
      const pointer = await readJson<Pointer>(pointerFile);
      return pointer && pointer.globalStep >= 2 * CHECKPOINT_EVERY ? pointer : null;
    });
    doomed.kill('SIGKILL');
    await doomed;
    // The worker's training processes notice their activity is gone and exit: no orphan trains on.
    await waitFor('the orphaned training to exit', async () =>
      (await trainingProcesses(pipelineId)).length === 0 ? true : null, 15_000);
    const stoppedAt = (await readJson<Pointer>(pointerFile))!;
    // The pointer names a complete checkpoint (the resumed run rotates it away later).
    expect((await stat(path.join(stoppedAt.checkpoint, 'trainer_state.json'))).isFile()).toBe(true);

    const replacement = startGpuWorkerProcess();
    try {
      return { result: PipelineResult.parse(await handle.result()), atKill, stoppedAt };
    } finally {
      replacement.kill('SIGTERM');
      await replacement;
    }
  });

  const { result, atKill, stoppedAt } = outcome;
  expect(stoppedAt.globalStep).toBeGreaterThanOrEqual(atKill.globalStep);
  expect(stoppedAt.globalStep).toBeLessThan(maxSteps);
  // Resumed from the last complete checkpoint, not from step 0, and trained to the planned total.
  expect(result.train.resumedFrom).toBe(stoppedAt.checkpoint);
  expect(result.train.globalStep).toBe(maxSteps);

  const mlflow = new MlflowClient(MLFLOW_URI);
  const versions = await mlflow.searchModelVersions(`name = '${modelName}'`);
  expect(versions).toHaveLength(1);
  expect(versions[0].run_id).toBe(result.train.mlflowRunId);
});

test('cancelling during DeepSpeed training (2 ranks on CPU) leaves no process of the run after 10 s', async () => {
  const pipelineId = `cancel-${Date.now()}`;
  const pointerFile = path.join(workDir, 'runs', pipelineId, 'train', 'latest-checkpoint.json');
  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
  process.env.DS_ACCELERATOR = 'cpu'; // DeepSpeed's CPU accelerator (gloo) stands in for GPUs

  const train = { maxSteps: 2000, checkpointEverySteps: 10, numGpus: 2, deepspeed: { stage: 2 as const } };
  const error = await cpuWorker.runUntil(
    gpuWorker.runUntil(async () => {
      const handle = await env.client.workflow.start(fineTunePipeline, {
        taskQueue: TASK_QUEUES.cpu,
        workflowId: pipelineId,
        args: [{ config: testConfig(`tuneflow-cancel-test-${Date.now()}`, train) }],
      });
      await waitFor('the first checkpoint', () => readJson<Pointer>(pointerFile));
      expect((await trainingProcesses(pipelineId)).length).toBeGreaterThanOrEqual(3); // launcher + 2 ranks
      await handle.cancel();
      const cancelledAt = Date.now();
      const failure = await handle.result().then(
        () => null,
        (err: unknown) => err,
      );
      const left = await waitFor('the processes to exit', async () => {
        const pids = await trainingProcesses(pipelineId);
        return pids.length === 0 || Date.now() - cancelledAt > 10_000 ? pids : null;
      });
      expect(left).toEqual([]);
      return failure;
    }),
  );
  delete process.env.DS_ACCELERATOR;

  expect(error).toBeInstanceOf(WorkflowFailedError);
  expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  // The checkpoint the pointer names is complete: a later run could resume from it.
  const pointer = (await readJson<Pointer>(pointerFile))!;
  expect((await stat(path.join(pointer.checkpoint, 'trainer_state.json'))).isFile()).toBe(true);
});
