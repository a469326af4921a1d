/**
 * storage.root on a real S3 server (SeaweedFS of the test's own), with the real Temporal dev
 * server, MLflow and training on the tiny T5. GPU workers are processes with cache folders of their
 * own, as on hosts that share no disk: a worker SIGKILLed after its second checkpoint is stored is
 * replaced by one with an empty cache, which resumes from the store; a checkpoint cut off mid-upload
 * never becomes the one to resume; and a pipeline on the store gives what the same config gives on
 * a local folder.
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { fineTunePipeline } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import type { PipelineConfigInput } from '../../lib/config';
import { PipelineResult } from '../../lib/pipeline';
import { ObjectStore } from '../../lib/storage/object-store';
import { storedCheckpoint, type StoredCheckpoint } from '../../lib/storage/checkpoints';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-processes';
import { duplicatedOutputs, metricHistory, pipelineOutputs } from '../helpers/pipeline-outputs';
import { startSeaweedS3, type SeaweedS3 } from '../helpers/seaweedfs';

let env: TestWorkflowEnvironment;
let s3: SeaweedS3;
let workDir: string;
let fixture: { data: string; model: string };
const savedEnv = { ...process.env };
const CHECKPOINT_EVERY = 20;

beforeAll(async () => {
  workDir = await tempDir('object-storage');
  [env, fixture, s3] = await Promise.all([startTemporal(), demoFixture(workDir, 1200, 30), startSeaweedS3(path.join(workDir, 'seaweedfs'))]);
  // The CPU worker runs in this process, with a cache of its own.
  Object.assign(process.env, s3.env, { TUNEFLOW_CACHE_DIR: path.join(workDir, 'cache-cpu') });
}, 120_000);

afterAll(async () => {
  process.env = savedEnv;
  await env?.teardown();
  await s3?.stop();
});

const root = () => `s3://${s3.bucket}/runs`;

function testConfig(modelName: string, storageRoot: string, train: PipelineConfigInput['train']): PipelineConfigInput {
  return {
    name: 'object-storage-test',
    data: { input: fixture.data, category: 'Camera' },
    model: { nameOrPath: fixture.model, maxSourceLength: 128, maxTargetLength: 24 },
    train: { epochs: 1, perDeviceTrainBatchSize: 8, loggingSteps: 5, heartbeatTimeoutSeconds: 5, ...train },
    evaluate: { maxSamples: 20, maxNewTokens: 8 },
    summarize: { minReviews: 10, numBeams: 2, minNewTokens: 4, maxNewTokens: 12, perReview: false },
    register: { modelName },
    storage: { root: storageRoot },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  };
}

function gpuWorker(cache: string): WorkerProcess {
  return startWorkerProcess('gpu', env.address, { ...s3.env, TUNEFLOW_CACHE_DIR: path.join(workDir, cache) });
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

const store = () => new ObjectStore(s3.bucket, 'runs');
const stored = (pipelineId: string) => storedCheckpoint(store(), `${pipelineId}/train`);

/** Every process of a pipeline's training on the worker with this cache (they name its spec file). */
async function trainingProcesses(cache: string, pipelineId: string): Promise<number[]> {
  const { stdout } = await execa('pgrep', ['-f', path.join(workDir, cache, pipelineId, 'train', 'spec.json')], { reject: false });
  return stdout.split('\n').filter(Boolean).map(Number);
}

async function killWorker(worker: WorkerProcess, cache: string, pipelineId: string): Promise<void> {
  worker.process.kill('SIGKILL');
  await worker.process;
  await waitFor('the orphaned training to exit', async () => ((await trainingProcesses(cache, pipelineId)).length === 0 ? true : null), 15_000);
}

/** A URI's object, downloaded under the test's folder (the summaries and weights of a pipeline on the store). */
async function localCopy(uri: string): Promise<string> {
  const relative = uri.slice(`${root()}/`.length);
  const file = path.join(workDir, 'read-back', relative);
  await store().download(relative, file);
  return file;
}

async function runToEnd(pipelineId: string, config: PipelineConfigInput, during: (handle: { result(): Promise<unknown> }) => Promise<WorkerProcess>) {
  const cpuWorker = await createCpuWorker(env.nativeConnection, env.namespace ?? 'default');
  return cpuWorker.runUntil(async () => {
    const handle = await env.client.workflow.start(fineTunePipeline, { taskQueue: TASK_QUEUES.cpu, workflowId: pipelineId, args: [{ config }] });
    const replacement = await during(handle);
    try {
      return PipelineResult.parse(await handle.result());
    } finally {
      await stopWorkerProcess(replacement);
    }
  });
}

test('a GPU worker SIGKILLed after its second checkpoint is stored: a worker with an empty cache resumes from the store', async () => {
  const pipelineId = `s3-kill-${Date.now()}`;
  const modelName = `tuneflow-s3-kill-${Date.now()}`;
  const maxSteps = 5 * CHECKPOINT_EVERY;
  let stoppedAt: StoredCheckpoint | null = null;
  const result = await runToEnd(pipelineId, testConfig(modelName, root(), { maxSteps, checkpointEverySteps: CHECKPOINT_EVERY }), async () => {
    const first = gpuWorker('cache-a');
    await waitFor('the second checkpoint in the store', async () => {
      const pointer = await stored(pipelineId);
      return pointer && pointer.globalStep >= 2 * CHECKPOINT_EVERY ? pointer : null;
    });
    await killWorker(first, 'cache-a', pipelineId);
    stoppedAt = await stored(pipelineId);
    return gpuWorker('cache-b');
  });

  const pointer = stoppedAt as StoredCheckpoint | null;
  expect(pointer!.globalStep).toBeLessThan(maxSteps);
  // The second worker had nothing on its disk: it resumed from the stored checkpoint, at its step.
  expect(result.train.resumedFrom).toBe(`${root()}/${pipelineId}/train/checkpoints/${pointer!.checkpoint}`);
  expect(result.train.globalStep).toBe(maxSteps);
  // One MLflow run whose loss curve has every logged step, one model version.
  const steps = new Set((await metricHistory(MLFLOW_URI, result.train.mlflowRunId, 'train_loss')).map((m) => m.step));
  expect([...steps].sort((a, b) => a - b)).toEqual(Array.from({ length: maxSteps / 5 }, (_, i) => (i + 1) * 5));
  const readBack = {
    ...result,
    clean: { ...result.clean, cleanedPath: await localCopy(result.clean.cleanedPath) },
    summaries: { ...result.summaries, products: { ...result.summaries.products, parquet: await localCopy(result.summaries.products.parquet) } },
  };
  expect(await duplicatedOutputs(readBack)).toEqual([]);
  // Every artifact the result names is in the store.
  expect(result.clean.cleanedPath).toBe(`${root()}/${pipelineId}/clean/cleaned.parquet`);
  expect(result.train.modelDir).toBe(`${root()}/${pipelineId}/train/model`);
});

test('a checkpoint cut off mid-upload is never the pointer: the retry resumes from the one before', async () => {
  const pipelineId = `s3-midway-${Date.now()}`;
  const maxSteps = 6 * CHECKPOINT_EVERY;
  const localPointer = path.join(workDir, 'cache-c', pipelineId, 'train', 'latest-checkpoint.json');
  let before: StoredCheckpoint | null = null;
  let cutOff = 0;
  const result = await runToEnd(pipelineId, testConfig(`tuneflow-s3-midway-${Date.now()}`, root(), { maxSteps, checkpointEverySteps: CHECKPOINT_EVERY }), async () => {
    const first = gpuWorker('cache-c');
    await waitFor('a checkpoint in the store', () => stored(pipelineId));
    // The store stops answering: the next checkpoint is written locally, its upload hangs mid-way.
    process.kill(s3.pid, 'SIGSTOP');
    try {
      cutOff = await waitFor('a newer checkpoint on the worker', async () => {
        const local = JSON.parse(await readFile(localPointer, 'utf8').catch(() => 'null')) as { globalStep: number } | null;
        return local && local.globalStep > CHECKPOINT_EVERY ? local.globalStep : null;
      });
      await killWorker(first, 'cache-c', pipelineId);
    } finally {
      process.kill(s3.pid, 'SIGCONT');
    }
    before = await stored(pipelineId);
    return gpuWorker('cache-d');
  });

  const pointer = before as StoredCheckpoint | null;
  expect(pointer!.globalStep).toBeLessThan(cutOff);
  expect(result.train.resumedFrom).toBe(`${root()}/${pipelineId}/train/checkpoints/${pointer!.checkpoint}`);
  expect(result.train.globalStep).toBe(maxSteps);
});

test('the pipeline on the store gives the outputs of the same config on a local folder', async () => {
  const namespace = env.namespace ?? 'default';
  const run = async (pipelineId: string, storageRoot: string) => {
    const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
    const gpu = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
    const config = testConfig(`tuneflow-s3-same-${pipelineId}`, storageRoot, { maxSteps: 30, perDeviceTrainBatchSize: 16, checkpointEverySteps: 10 });
    return cpuWorker.runUntil(
      gpu.runUntil(async () =>
        PipelineResult.parse(await env.client.workflow.execute(fineTunePipeline, { taskQueue: TASK_QUEUES.cpu, workflowId: pipelineId, args: [{ config }] })),
      ),
    );
  };
  const stamp = Date.now();
  const onStore = await run(`s3-same-${stamp}`, root());
  const onDisk = await run(`local-same-${stamp}`, path.join(workDir, 'runs'));
  const fromStore = await pipelineOutputs(onStore, localCopy);
  const fromDisk = await pipelineOutputs(onDisk);
  expect(fromStore).toEqual(fromDisk);
  expect(onStore.summaries.products.rows).toBe(onDisk.summaries.products.rows);
});

test('with cache: true, a second pipeline on the same data reuses every step; one changed nested field reruns only what depends on it', async () => {
  const namespace = env.namespace ?? 'default';
  const modelName = `tuneflow-s3-cache-${Date.now()}`;
  const config = (summarize: Partial<NonNullable<PipelineConfigInput['summarize']>> = {}): PipelineConfigInput => {
    const base = testConfig(modelName, root(), { maxSteps: 30, perDeviceTrainBatchSize: 16, checkpointEverySteps: 10 });
    return { ...base, cache: true, summarize: { ...base.summarize, ...summarize } };
  };
  const run = async (pipelineId: string, input: PipelineConfigInput) => {
    const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
    const gpu = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
    const result = await cpuWorker.runUntil(
      gpu.runUntil(async () =>
        PipelineResult.parse(await env.client.workflow.execute(fineTunePipeline, { taskQueue: TASK_QUEUES.cpu, workflowId: pipelineId, args: [{ config: input }] })),
      ),
    );
    const history = await env.client.workflow.getHandle(pipelineId).fetchHistory();
    const activities = new Set((history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean));
    const cachedFrom = Object.fromEntries(Object.entries(result.progress.steps).map(([step, s]) => [step, s.cachedFrom ?? null]));
    return { result, activities, cachedFrom };
  };
  const stamp = Date.now();
  const first = await run(`s3-cache-a-${stamp}`, config());
  expect(first.activities).toContain('train');
  const again = await run(`s3-cache-b-${stamp}`, config());
  // Nothing ran but the preflight, clean's plan (it fingerprints the input files) and the lookups.
  expect([...again.activities].sort()).toEqual(['lookupStepCache', 'planClean', 'preflight']);
  const fromFirst = `s3-cache-a-${stamp}`;
  expect(again.cachedFrom).toEqual({ preflight: null, clean: fromFirst, split: fromFirst, train: fromFirst, evaluate: fromFirst, register: fromFirst, summarize: fromFirst });
  expect(again.result.train).toEqual(first.result.train);
  expect(again.result.registered.version).toBe(first.result.registered.version);

  // One nested field of summarize: clean to register are reused, summarize and the report run.
  const changed = await run(`s3-cache-c-${stamp}`, config({ maxNewTokens: 10 }));
  expect(changed.cachedFrom).toEqual({ preflight: null, clean: fromFirst, split: fromFirst, train: fromFirst, evaluate: fromFirst, register: fromFirst, summarize: null });
  expect(changed.activities.has('train')).toBe(false);
  expect(changed.activities).toContain('report');
  expect(changed.result.summaries.products.parquet.startsWith(`${root()}/s3-cache-c-${stamp}/summarize/`)).toBe(true);
});
