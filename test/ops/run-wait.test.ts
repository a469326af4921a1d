/**
 * `tuneflow run --wait` and `tuneflow status` on a whole pipeline: the real dev server and MLflow
 * server, real workers, the tiny T5 on generated reviews. Its output goes to a pipe, so progress
 * comes as plain lines (the terminal's bar is covered in test/unit/progress.test.ts); afterwards,
 * with the workers stopped, `status --json` shows every step of the DAG completed, with attempts,
 * durations and summarize's shards.
 */
import * as path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { stringify } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { REPO_ROOT } from '../../lib/artifacts';
import { PIPELINE_STEPS } from '../../lib/pipeline';
import type { PipelineConfigInput } from '../../lib/config';
import { PipelineStatus } from '../../client/status/pipeline';
import { Comparison } from '../../client/compare';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';

const MAX_STEPS = 40;

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

beforeAll(async () => {
  workDir = await tempDir('run-wait');
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 300, 10)]);
});

afterAll(async () => {
  await env?.teardown();
});

function cli(args: string[]) {
  return execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), args, { env: { TEMPORAL_ADDRESS: env.address }, reject: false });
}

test('run --wait prints training and summarize progress, then status shows the finished DAG', async () => {
  const pipelineId = `run-wait-${Date.now()}`;
  const config: PipelineConfigInput = {
    name: 'run-wait-test',
    data: { input: fixture.data, category: 'Camera' },
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
    // Enough steps at one log line each that the CLI's 2 s polls see training progress.
    train: { maxSteps: MAX_STEPS, perDeviceTrainBatchSize: 4, loggingSteps: 1, checkpointEverySteps: MAX_STEPS },
    evaluate: { maxSamples: 10, maxNewTokens: 8 },
    // Shards of 3 products: several summarizeShards activities, one after another on one GPU worker.
    summarize: { minReviews: 5, numBeams: 1, minNewTokens: 2, maxNewTokens: 8, perReview: false, shardSize: 3 },
    register: { modelName: `tuneflow-run-wait-test-${Date.now()}` },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  };
  const configFile = path.join(workDir, 'run-wait.yaml');
  await writeFile(configFile, stringify(config));

  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
  const run = await cpuWorker.runUntil(gpuWorker.runUntil(cli(['run', '--config', configFile, '--id', pipelineId, '--wait'])));
  // The workers have stopped: a completed pipeline's status comes from its result, with no replay.
  const [statusRun, statusText] = [await cli(['status', pipelineId, '--json']), await cli(['status', pipelineId])];
  const htmlFile = path.join(workDir, 'compare.html');
  const compared = await cli(['compare', pipelineId, 'no-such-pipeline', '--json', '--html', htmlFile]);

  expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(run.stdout).toContain(`started pipeline ${pipelineId}`);
  // A pipe gets plain lines, never a bar's carriage returns.
  expect(run.stdout).not.toContain('\r');
  expect(run.stdout).toMatch(new RegExp(`^\\[train\\] running step \\d+/${MAX_STEPS} epoch [\\d.]+ loss [\\d.]+ [\\d.]+ samples/s ETA \\S+( checkpoint@\\d+)?$`, 'm'));
  expect(run.stdout).toMatch(/^\[summarize\] running shards \d+\/\d+ \(products \d+\/\d+, reviews 0\/0\)/m);
  expect(run.stdout).toContain('ROUGE-1 / 2 / L / Lsum');
  // The baselines beside the model; the tiny random base model is not scored zero-shot.
  expect(run.stdout).toMatch(/^ROUGE-L of the baselines +lead-\d+ [\d.]+ \/ most common headline [\d.]+ \/ zero-shot skipped \(.*random weights/m);
  expect(run.stdout).toMatch(/^ {2}strongest +(lead-\d+|the most common training headline) .*: [\d.]+$/m);
  expect(run.stdout).toMatch(/^ {2}lead-N +N=\d+, the best of 1\.\.40 on \d+ training rows/m);
  // How varied the summaries are; said plainly when most are one string.
  expect(run.stdout).toMatch(/^summaries written +(\d+% distinct; the most common, ".*", for \d+% of reviews|the model writes .* for \d+% of reviews: most summaries are one string)/m);
  expect(run.stdout).toMatch(/^champion gate +(champion|rejected) \(decided by rule\)$/m);

  expect({ exitCode: statusRun.exitCode, stderr: statusRun.stderr }).toEqual({ exitCode: 0, stderr: '' });
  const status = PipelineStatus.parse(JSON.parse(statusRun.stdout));
  expect(status).toMatchObject({ pipelineId, status: 'COMPLETED', currentStep: null });
  expect(status.steps.map((s) => s.step)).toEqual([...PIPELINE_STEPS]);
  for (const step of status.steps) {
    expect(step).toMatchObject({ state: 'completed', attempts: expect.any(Number), durationMs: expect.any(Number) });
    expect(step.attempts).toBeGreaterThanOrEqual(1);
  }
  const shards = status.steps.find((s) => s.step === 'summarize')?.shards;
  expect(shards?.total).toBeGreaterThan(1);
  expect(shards).toEqual({ done: shards?.total, total: shards?.total, products: { done: shards?.total, total: shards?.total }, reviews: { done: 0, total: 0 } });

  // compare reads the finished pipeline from the server; an unknown id is named, with what to do.
  expect(compared.exitCode).toBe(1);
  expect(compared.stderr).toContain('error: no pipeline no-such-pipeline on this Temporal server: check the id');
  const comparison = Comparison.parse(JSON.parse(compared.stdout));
  expect(comparison.problems.map((p) => p.pipelineId)).toEqual(['no-such-pipeline']);
  expect(comparison.rows).toHaveLength(1);
  expect(comparison.rows[0]).toMatchObject({ pipelineId, model: `${config.register!.modelName} v1` });
  // No GPU-hours on a CPU host; on a GPU host the report's rule prices them.
  if (comparison.rows[0].device === 'cpu') expect(comparison.rows[0].estimatedCostUsd).toBe(0);
  else expect(comparison.rows[0].estimatedCostUsd).toBeGreaterThan(0);
  expect(comparison.rows[0].scoredRows).toBeGreaterThan(0);
  expect(comparison.rows[0].parameters).toBeGreaterThan(0);
  expect(comparison.rows[0].latencyMs?.samples).toBeGreaterThan(0);
  expect(await readFile(htmlFile, 'utf8')).toContain(`${config.register!.modelName} v1, lead-N: `);

  expect(statusText.exitCode).toBe(0);
  expect(statusText.stdout).toMatch(new RegExp(`^${pipelineId}: COMPLETED`));
  // A duration as formatDuration writes it (a loaded CI host can take minutes over a step).
  for (const step of PIPELINE_STEPS.slice(1)) {
    expect(statusText.stdout).toMatch(new RegExp(`^->${step} +completed +\\d+ +(\\d+s|\\d+m\\d{2}s|\\d+h\\d{2}m)\\b`, 'm'));
  }
});

test('a failed step reaches the person with its cause: run --wait and status name the step, the type and the advice', async () => {
  const pipelineId = `run-wait-missing-${Date.now()}`;
  const missing = path.join(workDir, 'no-such-reviews.tsv');
  const configFile = path.join(workDir, 'missing-input.yaml');
  await writeFile(
    configFile,
    stringify({
      name: 'run-wait-missing-input',
      data: { input: missing },
      model: { nameOrPath: fixture.model },
      storage: { root: path.join(workDir, 'runs') },
      mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
    } satisfies PipelineConfigInput),
  );
  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
  // The workflow has failed, so `status` answers from the progress query: a worker must be running.
  const [run, statusText] = await cpuWorker.runUntil(async () => {
    const failed = await cli(['run', '--config', configFile, '--id', pipelineId, '--wait']);
    return [failed, await cli(['status', pipelineId])] as const;
  });

  expect(run.exitCode).toBe(1);
  expect(run.stderr).toContain(`pipeline ${pipelineId} failed: InvalidData in preflight (attempt 1, final: a retry would fail the same way): input check failed before anything was started`);
  expect(run.stderr).toContain(`invalid data in ${missing}: the input file does not exist. Check data.input`);
  expect(run.stderr).not.toContain('Activity task failed');
  expect(statusText.stdout).toContain(`error: InvalidData in preflight (attempt 1, final: a retry would fail the same way): input check failed before anything was started: invalid data in ${missing}`);
  expect(statusText.stdout).not.toContain('Activity task failed');
});
