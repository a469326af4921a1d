/**
 * The whole DAG on the real Temporal dev server and the real MLflow server: generated reviews,
 * the tiny T5, real cleaning, training, ROUGE, registration and summaries.
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { cpuActivities } from '../../activities';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { fineTunePipeline, progressQuery, rejectSignal } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { MlflowClient } from '../../lib/mlflow';
import { PipelineConfig, type PipelineConfigInput } from '../../lib/config';
import { PipelineResult, type ReportOutcome } from '../../lib/pipeline';
import { MLFLOW_URI, demoFixture, recordHistory, registerChampion, startTemporal, tempDir } from '../helpers/environment';
import { hostAccelerators } from '../helpers/accelerators';

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

function testConfig(overrides: Partial<PipelineConfigInput> = {}): PipelineConfigInput {
  return {
    name: 'workflow-test',
    data: { input: fixture.data, category: 'Camera' },
    model: { nameOrPath: fixture.model, maxSourceLength: 128, maxTargetLength: 24 },
    train: { epochs: 1, maxSteps: 30, perDeviceTrainBatchSize: 16, learningRate: 0.003, checkpointEverySteps: 10, loggingSteps: 5 },
    evaluate: { maxSamples: 40, maxNewTokens: 12 },
    summarize: { minReviews: 10, numBeams: 2, minNewTokens: 4, maxNewTokens: 12, perReview: false },
    register: { modelName: 'tuneflow-workflow-test' },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
    ...overrides,
  };
}

beforeAll(async () => {
  workDir = await tempDir('workflow');
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 1200, 30)]);
});

afterAll(async () => {
  await env?.teardown();
});

/**
 * Runs a CPU and a GPU worker (fresh ones: a worker runs once) until `work` settles; `cpu`
 * replaces the CPU worker's activities (to make one fail).
 */
async function runWorkers<T>(work: () => Promise<T>, cpu: typeof cpuActivities = cpuActivities): Promise<T> {
  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace, cpu);
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
  const settled = await cpuWorker.runUntil(
    gpuWorker.runUntil(
      work().then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    ),
  );
  if (!settled.ok) throw settled.error;
  return settled.value;
}

async function queryRows<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS() as T[];
}

/** The pipeline's report, which must have been made (its failure leaves the reason in the result). */
function completedReport(result: PipelineResult): Extract<ReportOutcome, { state: 'completed' }> {
  if (result.report?.state !== 'completed') throw new Error(`the run report was not made: ${JSON.stringify(result.report)}`);
  return result.report;
}

/** PNG signature, then the IHDR chunk with a non-zero width and height, and the IEND chunk last. */
function expectValidPng(png: Buffer, file: string): void {
  expect({ file, signature: png.subarray(0, 8).toString('hex') }).toEqual({ file, signature: '89504e470d0a1a0a' });
  expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
  expect(png.readUInt32BE(16)).toBeGreaterThan(0);
  expect(png.readUInt32BE(20)).toBeGreaterThan(0);
  expect(png.subarray(-8, -4).toString('ascii')).toBe('IEND');
}

test('the pipeline runs preflight -> clean -> split -> train -> evaluate -> register -> summarize for real', async () => {
  const workflowId = `pipeline-${Date.now()}`;
  const handle = await env.client.workflow.start(fineTunePipeline, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId,
    // With evaluation during training, at the last step only: 30 steps leave the tiny model's ROUGE
    // at 0 throughout, and on a tie the earliest checkpoint would be the model (python/tests cover that).
    args: [{ config: testConfig({ train: { ...testConfig().train, checkpointEverySteps: 30, evalEverySteps: 30, evalSamples: 16 } }) }],
  });
  const [rawResult, progress] = await runWorkers(async () => {
    const value = await handle.result();
    return [value, await handle.query(progressQuery)] as const;
  });
  const result = PipelineResult.parse(rawResult);

  // Rows: nothing lost, the generator's malformed rows quarantined with a reason each.
  const c = result.clean.counts;
  expect(c.read).toBe(1200);
  expect(c.read).toBe(c.kept + c.droppedByRule + c.quarantined + c.deduped + c.sampledOut);
  expect(c.quarantined).toBeGreaterThan(0);
  const quarantine = (await readFile(result.clean.quarantinePath, 'utf8')).trim().split('\n');
  expect(quarantine).toHaveLength(c.quarantined);
  expect(JSON.parse(quarantine[0])).toEqual(expect.objectContaining({ line: expect.any(Number), reason: expect.any(String) }));
  expect(result.split.trainRows + result.split.validationRows).toBe(c.kept);

  // Training really ran to the planned step and checkpointed; its evaluation chose the model.
  expect(result.train.globalStep).toBe(30);
  expect(result.train.trainLoss).toEqual(expect.any(Number));
  expect(result.train.evaluations).toEqual(
    expect.objectContaining({ done: 1, samples: 16, best: expect.objectContaining({ step: 30, rougeL: expect.any(Number) }) }),
  );
  expect(result.train.earlyStopping).toBeNull();

  // MLflow: a model version exists, and its run carries the ROUGE metrics.
  const mlflow = new MlflowClient(MLFLOW_URI);
  const version = await mlflow.getModelVersion(result.registered.modelName, result.registered.version);
  expect(version.run_id).toBe(result.train.mlflowRunId);
  const run = await mlflow.getRun(version.run_id!);
  const metrics = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
  for (const key of ['eval_rouge1', 'eval_rouge2', 'eval_rougeL', 'eval_rougeLsum']) {
    expect(metrics[key]).toBeGreaterThanOrEqual(0);
    expect(metrics[key]).toBeLessThanOrEqual(1);
  }
  expect(metrics.eval_rougeL).toBeCloseTo(result.evaluation.rouge.rougeL, 6);
  expect(metrics.best_val_rougeL).toBeCloseTo(result.train.evaluations?.best?.rougeL ?? -1, 6);

  // One non-empty summary per product with at least minReviews cleaned reviews.
  const eligible = await queryRows<{ product_id: string }>(
    `SELECT product_id FROM read_parquet('${result.clean.cleanedPath}')
     GROUP BY product_id HAVING count(*) >= 10 ORDER BY product_id`,
  );
  const summaries = await queryRows<{ product_id: string; summary: string }>(
    `SELECT product_id, summary FROM read_parquet('${result.summaries.products.parquet}') ORDER BY product_id`,
  );
  expect(eligible.length).toBeGreaterThan(0);
  expect(summaries.map((s) => s.product_id)).toEqual(eligible.map((e) => e.product_id));
  for (const s of summaries) expect(s.summary.trim()).not.toBe('');
  expect(result.summaries.products.rows).toBe(eligible.length);

  // The progress query reports every step completed, with timings.
  for (const step of Object.values(progress.steps)) {
    expect(step.state).toBe('completed');
    expect(step.durationMs).toBeGreaterThanOrEqual(0);
  }

  // The baselines were scored on the model's rows; the run has them as metrics.
  const { baselines } = result.evaluation;
  expect(metrics.baseline_lead_rougeL).toBeCloseTo(baselines.lead.rouge.rougeL, 6);
  expect(metrics.baseline_common_rougeL).toBeCloseTo(baselines.common.rouge.rougeL, 6);
  expect(baselines.zeroShot).toEqual({ model: fixture.model, rouge: null, skipped: expect.stringContaining('random weights') });
  expect(baselines.best.rougeL).toBe(Math.max(baselines.lead.rouge.rougeL, baselines.common.rouge.rougeL));
  expect(metrics.baseline_best_rougeL).toBeCloseTo(baselines.best.rougeL, 6);
  expect(metrics.eval_distinct_share).toBeCloseTo(result.evaluation.predictions.distinctShare, 6);

  // The champion gate decided (register.mustBeat: best by default), and the version's tags say so.
  const tags = Object.fromEntries(version.tags.map((t) => [t.key, t.value]));
  expect(tags['tuneflow.decision']).toBe(result.registered.gate.decision);
  expect(result.registered.gate.decision === 'rejected').toBe(result.evaluation.rouge.rougeL <= baselines.best.rougeL);

  // The run report: the seed's table and three plots, under storage.root and in the MLflow run.
  const report = completedReport(result);
  // train.numGpus 1 and no hostfile: one GPU held where the host has one, none on a CPU host.
  const gpusHeld = (await hostAccelerators()).count > 0 ? 1 : 0;
  const gpuHours = (gpusHeld * report.table.tuningSeconds) / 3600;
  expect(progress.report).toEqual(result.report);
  expect(path.dirname(report.htmlPath)).toBe(path.join(workDir, 'runs', workflowId, 'report'));
  const page = await readFile(report.htmlPath, 'utf8');
  for (const header of ['Model size', 'Example summary', 'Tuning time', 'Estimated cost', 'Inference latency']) {
    expect(page).toContain(`<th>${header}</th>`);
  }
  expect(report.table).toEqual(
    expect.objectContaining({
      model: `${result.registered.modelName} v${result.registered.version}`,
      parameters: expect.any(Number),
      exampleSummary: expect.stringMatching(/\S/),
      gpuHours,
      estimatedCostUsd: gpuHours * PipelineConfig.parse(testConfig()).report.gpuHourPrice,
      latencyMs: result.summaries.latencyMs,
    }),
  );
  expect(report.table.parameters).toBeGreaterThan(0);
  expect(report.table.tuningSeconds).toBeCloseTo((progress.steps.train.durationMs ?? -1) / 1000, 6);
  expect(report.plots.map((p) => path.basename(p))).toEqual(['loss.png', 'rouge.png', 'throughput.png', 'rouge_steps.png']);
  for (const plot of report.plots) {
    expect(path.dirname(plot)).toBe(path.dirname(report.htmlPath));
    expect(page).toContain(`href="${path.basename(plot)}"`);
    expectValidPng(await readFile(plot), plot);
  }
  const artifacts = await mlflow.listArtifacts(result.train.mlflowRunId, 'report');
  expect(artifacts.map((a) => a.path).sort()).toEqual([
    'report/loss.png',
    'report/report.html',
    'report/rouge.png',
    'report/rouge_steps.png',
    'report/throughput.png',
  ]);
  for (const artifact of artifacts) expect(artifact.file_size).toBeGreaterThan(0);
  expect(report.artifactUri).toBe(`runs:/${result.train.mlflowRunId}/report/report.html`);
  expect(report.mlflowUrl).toBe(`${MLFLOW_URI}/#/experiments/${run.info.experiment_id}/runs/${run.info.run_id}/artifactPath/report/report.html`);

  await recordHistory(env.address, workflowId);
});

test('a borderline champion gate waits for a person: reject keeps the champion; a failed report fails no pipeline', async () => {
  const workflowId = `pipeline-gate-${Date.now()}`;
  const config = testConfig({
    // mustBeat none: this test is about the review, which a version below the floor never gets.
    register: { modelName: `tuneflow-gate-test-${Date.now()}`, reviewBand: 1, reviewTimeoutSeconds: 3600, reviewDefault: 'promote', mustBeat: 'none' },
    summarize: { minReviews: 10, numBeams: 1, minNewTokens: 1, maxNewTokens: 4, perReview: false, latencySamples: 0 },
  });
  const championVersion = await registerChampion(PipelineConfig.parse(config));
  const handle = await env.client.workflow.start(fineTunePipeline, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId,
    args: [{ config }],
  });
  // The report fails on every attempt, as it would with MLflow's artifact store unreachable.
  let reportAttempts = 0;
  const failingReport = async (): Promise<never> => {
    reportAttempts++;
    throw new Error('artifact store unreachable (made to fail by this test)');
  };
  const [rawResult, waiting, final] = await runWorkers(
    async () => {
      let progress = await handle.query(progressQuery);
      while (progress.awaitingReview === null) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        progress = await handle.query(progressQuery);
      }
      await handle.signal(rejectSignal);
      return [await handle.result(), progress, await handle.query(progressQuery)] as const;
    },
    { ...cpuActivities, report: failingReport },
  );
  const result = PipelineResult.parse(rawResult);

  expect(waiting.currentStep).toBe('register');
  expect(waiting.awaitingReview).toContain('signal promote or reject');
  // evaluate scored the champion on the same rows; register kept it, as the person decided.
  expect(result.evaluation.champion?.version).toBe(championVersion);
  expect(result.registered.gate).toEqual(
    expect.objectContaining({ decision: 'challenger', decidedBy: 'signal', champion: { version: championVersion, rougeL: result.evaluation.champion?.rouge.rougeL } }),
  );
  const mlflow = new MlflowClient(MLFLOW_URI);
  expect(await mlflow.aliasVersion(config.register!.modelName!, 'champion')).toBe(championVersion);
  expect(await mlflow.aliasVersion(config.register!.modelName!, 'challenger')).toBe(result.registered.version);
  // The report was retried, then given up: the pipeline completed, the reason is in its result.
  expect(reportAttempts).toBe(3);
  expect(result.report).toEqual({ state: 'failed', reason: expect.stringContaining('artifact store unreachable') });
  expect(result.report?.state === 'failed' && result.report.reason).toContain(`v${result.registered.version} and the summaries are unaffected`);
  expect(final.report).toEqual(result.report);
  for (const step of Object.values(final.steps)) expect(step.state).toBe('completed');

  await recordHistory(env.address, workflowId, { suffix: '-review' });
});

test('an invalid config fails the workflow at once with the field path, non-retryable', async () => {
  const config = { ...testConfig(), train: { perDeviceTrainBatchSize: 0, optim: 'sgd' } };
  const run = () =>
    env.client.workflow.execute(fineTunePipeline, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: `invalid-config-${Date.now()}`,
      args: [{ config }],
    });
  const error = await runWorkers(run).then(
    () => null,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).type).toBe('InvalidConfig');
  expect((cause as ApplicationFailure).nonRetryable).toBe(true);
  expect(cause?.message).toContain('train.perDeviceTrainBatchSize');
  expect(cause?.message).toContain('train.optim');
});
