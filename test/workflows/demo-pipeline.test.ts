/**
 * The demo's claim, tested: `npm run demo`'s recipe (configs/demo.yaml, on the data scripts/demo.sh
 * generates) fine-tunes a model that the gate crowns under its default floor (register.mustBeat:
 * best) and that beats the strongest simple baseline by at least 20% relative ROUGE-L, on the real
 * Temporal dev server and MLflow. Only where the demo's outputs go differs (this test's folders,
 * experiment and model name), and summarize writes product summaries only.
 */
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { fineTunePipeline } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { REPO_ROOT } from '../../lib/artifacts';
import { loadConfigFile } from '../../lib/config-file';
import { PipelineResult } from '../../lib/pipeline';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

beforeAll(async () => {
  workDir = await tempDir('demo-pipeline');
  // scripts/demo.sh's data: 3000 reviews of 60 products, seed 7.
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 3000, 60, 7)]);
});

afterAll(async () => {
  await env?.teardown();
});

test("the demo's recipe fine-tunes a champion at least 20% above the best simple baseline", async () => {
  const demo = await loadConfigFile(path.join(REPO_ROOT, 'configs', 'demo.yaml'));
  const config = {
    ...demo,
    data: { ...demo.data, input: fixture.data },
    model: { ...demo.model, nameOrPath: fixture.model },
    summarize: { ...demo.summarize, perReview: false },
    register: { ...demo.register, modelName: `tuneflow-demo-test-${Date.now()}` },
    storage: { ...demo.storage, root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  };
  expect(config.register.mustBeat).toBe('best');
  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
  const handle = await env.client.workflow.start(fineTunePipeline, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `demo-pipeline-${Date.now()}`,
    args: [{ config }],
  });
  const result = PipelineResult.parse(await cpuWorker.runUntil(gpuWorker.runUntil(handle.result())));

  const { rouge, baselines, predictions } = result.evaluation;
  const best = baselines.best;
  expect(Math.max(baselines.lead.rouge.rougeL, baselines.common.rouge.rougeL)).toBe(best.rougeL);
  expect(rouge.rougeL).toBeGreaterThanOrEqual(1.2 * best.rougeL);
  expect(result.registered.gate.decision).toBe('champion');
  // Not one answer for every review.
  expect(predictions.degenerate).toBeNull();
  expect(predictions.mostCommonShare).toBeLessThan(0.5);
  // Early stopping decided on the validation loss, past its warm-up.
  const stopping = result.train.earlyStopping;
  expect(stopping?.basis.signal).toBe('validationLoss');
  expect(stopping?.step).toBeGreaterThanOrEqual(stopping?.basis.warmupSteps ?? Infinity);
});
