/**
 * Durable training on the real Temporal dev server and MLflow server, with real training on the
 * tiny T5: a GPU worker SIGKILLed mid-training costs at most one checkpoint interval, one stopped
 * by SIGTERM (a deploy) costs nothing, and a cancelled pipeline leaves no process behind.
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
import { minimumStopGraceSeconds, SHUTDOWN_BUDGET } from '../../lib/shutdown-grace';
import { heartbeatOf } from '../../client/status/pending';
import { MLFLOW_URI, demoFixture, recordHistory, startTemporal, tempDir } from '../helpers/environment';

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

const CHECKPOINT_EVERY = 20;

/** A pipeline of this file's config, started on the CPU queue. */
function startTestPipeline(pipelineId: string, modelName: string, train: PipelineConfigInput['train']) {
  return env.client.workflow.start(fineTunePipeline, { taskQueue: TASK_QUEUES.cpu, workflowId: pipelineId, args: [{ config: testConfig(modelName, train) }] });
}

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

/** A GPU worker in its own process, as in production: the test can SIGKILL or SIGTERM it. */
function startGpuWorkerProcess(): ResultPromise {
  return execa(path.join(REPO_ROOT, 'bin', 'ts-run'), [path.join(REPO_ROOT, 'workers', 'gpu-worker.ts')], {
    cwd: REPO_ROOT,
    env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', TUNEFLOW_QUIET_PYTHON: '1' },
    reject: false,
    // A SIGTERMed worker gets its whole shutdown, not execa's default SIGKILL 5 s later.
    forceKillAfterDelay: false,
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
    const handle = await startTestPipeline(pipelineId, modelName, { maxSteps, checkpointEverySteps: CHECKPOINT_EVERY });
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

  // A pipeline whose train took a second attempt, for test/replay.
  await recordHistory(env.address, pipelineId, { suffix: '-retried-train' });
});

// Four minutes of training and restarting: in `npm run soak` (CI checks the shutdown budget
// against docker-compose.yml in test/ops/compose.test.ts).
(process.env.TUNEFLOW_SOAK === '1' ? test : test.skip)('a GPU worker stopped by SIGTERM checkpoints on the way out: a new worker resumes at that step, the loss curve goes on', async () => {
  const pipelineId = `sigterm-${Date.now()}`;
  const modelName = `tuneflow-sigterm-test-${Date.now()}`;
  const loggingSteps = 5;
  // Far from its end when the worker is stopped: training goes on through the worker's 10 s
  // shutdownGraceTime, so steps of 32 examples (a quiet host ran 100 steps of 8 within it), and no
  // periodic checkpoint before the end: the one checkpoint to resume from is written on the way out.
  const maxSteps = 200;
  const train = { maxSteps, checkpointEverySteps: maxSteps, loggingSteps, perDeviceTrainBatchSize: 32 };
  const pointerFile = path.join(workDir, 'runs', pipelineId, 'train', 'latest-checkpoint.json');
  const cpuWorker = await createCpuWorker(env.nativeConnection, env.namespace ?? 'default');

  const outcome = await cpuWorker.runUntil(async () => {
    const handle = await startTestPipeline(pipelineId, modelName, train);
    const trainActivity = async () =>
      (await handle.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === 'train') ?? null;
    const stopping = startGpuWorkerProcess();
    const atSigterm = await waitFor('training to pass step 10', async () => {
      const progress = heartbeatOf((await trainActivity()) ?? undefined)?.progress;
      return progress && progress.step >= 10 ? progress.step : null;
    });
    expect(await readJson<Pointer>(pointerFile)).toBeNull();

    const sigtermAt = Date.now();
    stopping.kill('SIGTERM');
    const exited = await stopping;
    const stopSeconds = (Date.now() - sigtermAt) / 1000;
    // A clean exit inside the budget compose's stop_grace_period is checked against.
    expect([exited.exitCode, exited.signal ?? null]).toEqual([0, null]);
    expect(stopSeconds).toBeLessThan(minimumStopGraceSeconds(SHUTDOWN_BUDGET.gpu));
    expect(await trainingProcesses(pipelineId)).toEqual([]);
    const stoppedAt = (await readJson<Pointer>(pointerFile))!;
    expect(path.basename(stoppedAt.checkpoint)).toBe(`checkpoint-${stoppedAt.globalStep}`);
    expect((await stat(path.join(stoppedAt.checkpoint, 'trainer_state.json'))).isFile()).toBe(true);
    // The attempt ended as the worker's shutdown (the SDK's retryable WorkerShutdown failure),
    // not by a heartbeat timeout.
    const pending = await trainActivity();
    expect([pending?.attempt, pending?.lastFailure?.applicationFailureInfo?.type]).toEqual([2, 'WorkerShutdown']);

    const replacementStartedAt = Date.now();
    const replacement = startGpuWorkerProcess();
    try {
      return { result: PipelineResult.parse(await handle.result()), atSigterm, stoppedAt, replacementStartedAt };
    } finally {
      replacement.kill('SIGTERM');
      await replacement;
    }
  });

  const { result, atSigterm, stoppedAt, replacementStartedAt } = outcome;
  expect(stoppedAt.globalStep).toBeGreaterThan(atSigterm);
  expect(stoppedAt.globalStep).toBeLessThan(maxSteps);
  expect(result.train.resumedFrom).toBe(stoppedAt.checkpoint);
  expect(result.train.globalStep).toBe(maxSteps);

  // One run; its loss curve has every logged step once: the first attempt logged up to the
  // checkpoint's step, the second went on from there (nothing repeated, nothing lost).
  const mlflow = new MlflowClient(MLFLOW_URI);
  const experiment = (await mlflow.getExperimentByName('tuneflow-tests'))!;
  const runs = await mlflow.searchRuns([experiment.experiment_id], `tags.\`tuneflow.pipeline_id\` = '${pipelineId}'`);
  expect(runs.map((r) => r.info.run_id)).toEqual([result.train.mlflowRunId]);
  const response = await fetch(
    `${MLFLOW_URI}/api/2.0/mlflow/metrics/get-history?run_id=${result.train.mlflowRunId}&metric_key=train_loss&max_results=10000`,
  );
  const { metrics } = (await response.json()) as { metrics: { step: number; timestamp: number }[] };
  const steps = metrics.map((m) => m.step).sort((a, b) => a - b);
  expect(steps).toEqual(Array.from({ length: maxSteps / loggingSteps }, (_, i) => (i + 1) * loggingSteps));
  const misplaced = metrics.filter((m) => m.step <= stoppedAt.globalStep !== m.timestamp < replacementStartedAt);
  expect(misplaced).toEqual([]);

  const versions = await mlflow.searchModelVersions(`name = '${modelName}'`);
  expect(versions.map((v) => v.run_id)).toEqual([result.train.mlflowRunId]);
});

test('cancelling during DeepSpeed training (2 ranks on CPU) leaves no process of the run after 10 s', async () => {
  const pipelineId = `cancel-${Date.now()}`;
  const pointerFile = path.join(workDir, 'runs', pipelineId, 'train', 'latest-checkpoint.json');
  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
  // DeepSpeed's CPU accelerator (gloo) stands in for GPUs; set before the worker states it in its identity.
  process.env.DS_ACCELERATOR = 'cpu';
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });

  const train = { maxSteps: 2000, checkpointEverySteps: 10, numGpus: 2, deepspeed: { stage: 2 as const } };
  const error = await cpuWorker.runUntil(
    gpuWorker.runUntil(async () => {
      const handle = await startTestPipeline(pipelineId, `tuneflow-cancel-test-${Date.now()}`, train);
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

  // A cancelled pipeline, for test/replay.
  await recordHistory(env.address, pipelineId, { suffix: '-cancelled' });
});
