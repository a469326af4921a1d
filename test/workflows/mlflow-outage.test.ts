/**
 * An MLflow outage during register, on the real Temporal dev server and a real MLflow server of
 * this test's own (its own port and state, so stopping it disturbs no other test): register
 * retries until MLflow is back, the pipeline completes, and exactly one model version exists.
 * Its data is a folder of two copies of one file: clean fans out one activity per file, and the
 * merge dedupes the second copy.
 */
import * as path from 'node:path';
import { copyFile, mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { fineTunePipeline, progressQuery } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { MlflowClient } from '../../lib/mlflow';
import { PipelineResult } from '../../lib/pipeline';
import { REPO_ROOT } from '../../lib/artifacts';
import { demoFixture, startTemporal, tempDir } from '../helpers/environment';

const OUTAGE_MLFLOW_PORT = '5055';
const OUTAGE_MLFLOW_URI = `http://127.0.0.1:${OUTAGE_MLFLOW_PORT}`;
const OUTAGE_SECONDS = 20;

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

function mlflowService(action: 'start' | 'stop'): Promise<unknown> {
  return execa('bash', [path.join(REPO_ROOT, 'scripts', 'services.sh'), action, 'mlflow'], {
    env: { TUNEFLOW_MLFLOW_PORT: OUTAGE_MLFLOW_PORT, TUNEFLOW_STATE_DIR: path.join(workDir, 'services') },
  });
}

beforeAll(async () => {
  workDir = await tempDir('mlflow-outage');
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 1200, 30), mlflowService('start')]);
  await mkdir(path.join(workDir, 'reviews'));
  await Promise.all(['a', 'b'].map((copy) => copyFile(fixture.data, path.join(workDir, 'reviews', `${copy}.tsv.gz`))));
});

afterAll(async () => {
  await mlflowService('stop');
  await env?.teardown();
});

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A query on a host this loaded can outlast the worker's 5-s script timeout: ask again.
  const answer = () => probe().catch((err: Error) => (/timed out/.test(err.message) ? false : Promise.reject(err)));
  while (!(await answer())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test(`MLflow down for ${OUTAGE_SECONDS} s during register: register retries, the pipeline completes, one version`, async () => {
  const namespace = env.namespace ?? 'default';
  const pipelineId = `outage-${Date.now()}`;
  const modelName = `tuneflow-outage-test-${Date.now()}`;
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });

  const result = await gpuWorker.runUntil(async () => {
    // The CPU queue (workflow tasks and register) has a worker until evaluate runs, then none:
    // register can only start once MLflow is already down.
    const firstCpuWorker = await createCpuWorker(env.nativeConnection, namespace);
    const firstCpuRun = firstCpuWorker.run();
    const handle = await env.client.workflow.start(fineTunePipeline, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: pipelineId,
      args: [{
        config: {
          name: 'mlflow-outage-test',
          data: { input: path.join(workDir, 'reviews'), category: 'Camera' },
          model: { nameOrPath: fixture.model, maxSourceLength: 128, maxTargetLength: 24 },
          train: { epochs: 1, maxSteps: 10, perDeviceTrainBatchSize: 16, checkpointEverySteps: 5, loggingSteps: 5 },
          evaluate: { maxSamples: 20, maxNewTokens: 8 },
          summarize: { minReviews: 10, numBeams: 1, minNewTokens: 2, maxNewTokens: 8, perReview: false },
          register: { modelName },
          storage: { root: path.join(workDir, 'runs') },
          mlflow: { trackingUri: OUTAGE_MLFLOW_URI, experiment: 'tuneflow-outage' },
        },
      }],
    });
    await waitFor('evaluate to start', async () => (await handle.query(progressQuery)).currentStep === 'evaluate');
    firstCpuWorker.shutdown();
    await firstCpuRun;
    await waitFor('evaluate to finish', async () => ((await handle.describe()).raw.pendingActivities ?? []).length === 0);

    await mlflowService('stop');
    const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
    return cpuWorker.runUntil(async () => {
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_SECONDS * 1000));
      await mlflowService('start');
      return PipelineResult.parse(await handle.result());
    });
  });

  expect(result.registered.modelName).toBe(modelName);
  // Two files, two clean shards; every review of the second copy is a duplicate of the first's.
  const { counts } = result.clean;
  expect(counts.read % 2).toBe(0);
  expect(counts.deduped).toBeGreaterThanOrEqual(counts.kept);
  expect(counts.kept + counts.droppedByRule + counts.quarantined + counts.deduped + counts.sampledOut).toBe(counts.read);
  // register ran while MLflow was down and failed at least once before it succeeded.
  const history = await env.client.workflow.getHandle(pipelineId).fetchHistory();
  const events = history.events ?? [];
  const registerScheduledId = events.find(
    (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'register',
  )?.eventId;
  const registerStarted = events.find(
    (event) => String(event.activityTaskStartedEventAttributes?.scheduledEventId) === String(registerScheduledId),
  );
  expect(registerStarted?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThan(1);
  expect(registerStarted?.activityTaskStartedEventAttributes?.lastFailure?.message).toMatch(/MLflow/);
  const activities = events.map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  expect(activities.filter((name) => name === 'cleanShard')).toHaveLength(2);
  expect(activities.slice(0, 5)).toEqual(['preflight', 'planClean', 'cleanShard', 'cleanShard', 'mergeClean']);

  const versions = await new MlflowClient(OUTAGE_MLFLOW_URI).searchModelVersions(`name = '${modelName}'`);
  expect(versions).toHaveLength(1);
  expect(versions[0].run_id).toBe(result.train.mlflowRunId);
});
