/**
 * model.startFrom `champion` on the real MLflow server, through the train activity: with no
 * champion yet it trains from model.nameOrPath; once a trained version holds the alias, the next
 * training starts from its weights (downloaded from MLflow), and a retry keeps that start even
 * after the alias moved.
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { train } from '../../activities/train';
import { parseConfig, type PipelineConfig } from '../../lib/config';
import { MlflowClient } from '../../lib/mlflow';
import type { TrainInput } from '../../lib/steps';
import { MLFLOW_URI, demoFixture, registerChampion, splitFixture, tempDir } from '../helpers/environment';

let workDir: string;
let config: PipelineConfig;
let split: { trainPath: string; validationPath: string };
const mlflow = new MlflowClient(MLFLOW_URI);

beforeAll(async () => {
  workDir = await tempDir('start-from');
  const fixture = await demoFixture(workDir, 400, 10);
  split = await splitFixture(path.join(workDir, 'split'));
  config = parseConfig({
    name: 'start-from-champion',
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16, startFrom: 'champion' },
    train: { epochs: 1, perDeviceTrainBatchSize: 8, learningRate: 3e-3, checkpointEverySteps: 100, loggingSteps: 2 },
    register: { modelName: `tuneflow-start-from-${Date.now()}` },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  });
  process.env.TUNEFLOW_QUIET_PYTHON = '1';
});

afterAll(() => {
  delete process.env.TUNEFLOW_QUIET_PYTHON;
});

function trainInput(pipelineId: string, maxSteps: number): TrainInput {
  return { pipelineId, config: { ...config, train: { ...config.train, maxSteps } }, ...split };
}

async function firstLoss(runId: string): Promise<number> {
  const response = await fetch(`${MLFLOW_URI}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=train_loss`);
  const { metrics } = (await response.json()) as { metrics: { step: number; value: number }[] };
  return metrics.sort((a, b) => a.step - b.step)[0].value;
}

async function startRecord(pipelineId: string): Promise<unknown> {
  return JSON.parse(await readFile(path.join(workDir, 'runs', pipelineId, 'train', 'start-model.json'), 'utf8'));
}

async function runTag(runId: string, key: string): Promise<string | undefined> {
  return (await mlflow.getRun(runId)).data.tags.find((tag) => tag.key === key)?.value;
}

test('no champion: trains from nameOrPath; with one: starts from its weights, pinned for retries', async () => {
  const modelName = config.register.modelName;
  const baseId = `start-base-${Date.now()}`;
  const fromBase = await train(trainInput(baseId, 30));
  expect(await startRecord(baseId)).toEqual({ startFrom: null });
  expect(await runTag(fromBase.mlflowRunId, 'tuneflow.start_model')).toBe(config.model.nameOrPath);

  const championVersion = await registerChampion({ ...config, model: { ...config.model, nameOrPath: fromBase.modelDir } });
  const champion = { version: championVersion, modelUri: `models:/${modelName}/${championVersion}` };
  const championId = `start-champion-${Date.now()}`;
  const fromChampion = await train(trainInput(championId, 4));
  expect(await startRecord(championId)).toEqual({ startFrom: champion });
  expect(await runTag(fromChampion.mlflowRunId, 'tuneflow.start_model')).toBe(champion.modelUri);
  // The champion learnt for 30 steps: its first loss on the same data is far below random weights'.
  expect(await firstLoss(fromChampion.mlflowRunId)).toBeLessThan((await firstLoss(fromBase.mlflowRunId)) - 1);

  // The alias moves on (another pipeline won); a retry of the same train still starts from v1.
  await registerChampion(config);
  expect(await mlflow.aliasVersion(modelName, 'champion')).not.toBe(championVersion);
  await train(trainInput(championId, 4));
  const retrySpec = JSON.parse(await readFile(path.join(workDir, 'runs', championId, 'train', 'spec.json'), 'utf8'));
  expect(retrySpec.startFrom).toEqual(champion);
});
