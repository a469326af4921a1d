/** A register activity input on the real MLflow server: a run with a logged model, and split files. */
import * as path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { PipelineConfig } from '../../lib/config';
import { MlflowClient } from '../../lib/mlflow';
import type { RegisterInput } from '../../lib/steps';
import { tempDir } from './environment';

/** A run with an MLflow 3 logged model (metadata only: register never reads the weights). */
export async function trainedModel(trackingUri: string, experiment: string, runName = 'register-test'): Promise<{ mlflowRunId: string; modelUri: string }> {
  const mlflow = new MlflowClient(trackingUri);
  const experimentId = await mlflow.ensureExperiment(experiment);
  const run = await mlflow.createRun(experimentId, runName, {});
  const response = await fetch(`${trackingUri}/api/2.0/mlflow/logged-models`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ experiment_id: experimentId, name: 'model', source_run_id: run.info.run_id }),
  });
  if (!response.ok) throw new Error(`creating a logged model failed: HTTP ${response.status} ${await response.text()}`);
  const { model } = (await response.json()) as { model: { info: { model_id: string } } };
  return { mlflowRunId: run.info.run_id, modelUri: `models:/${model.info.model_id}` };
}

/**
 * The input of a first version (no champion) of `modelName` made by `workflowId`, logged on
 * `trackingUri`; `registerUri` (default: the same) is where the activity talks to MLflow.
 */
export async function registerInput(args: {
  trackingUri: string;
  registerUri?: string;
  modelName: string;
  workflowId: string;
}): Promise<RegisterInput> {
  const experiment = 'tuneflow-tests';
  // register only fingerprints the split's files, so any bytes stand in for Parquet.
  const dir = await tempDir('register-input');
  const datasets = { train: { path: path.join(dir, 'train.parquet'), rows: 9 }, validation: { path: path.join(dir, 'validation.parquet'), rows: 1 } };
  await writeFile(datasets.train.path, 'train rows');
  await writeFile(datasets.validation.path, 'validation rows');
  return {
    pipelineId: args.workflowId,
    config: PipelineConfig.parse({
      register: { modelName: args.modelName },
      mlflow: { trackingUri: args.registerUri ?? args.trackingUri, experiment },
    }),
    workflowId: args.workflowId,
    workflowRunId: `run-of-${args.workflowId}`,
    ...(await trainedModel(args.trackingUri, experiment)),
    rouge: { rouge1: 0.4, rouge2: 0.2, rougeL: 0.3, rougeLsum: 0.3 },
    // Below the model's 0.3: register.mustBeat's floor lets it pass.
    baselines: {
      lead: { words: 6, rouge: { rouge1: 0.2, rouge2: 0.1, rougeL: 0.15, rougeLsum: 0.15 }, chosenOn: { trainRows: 9, maxWords: 40, trainRougeL: 0.16 } },
      common: { headline: 'Great camera', rouge: { rouge1: 0.1, rouge2: 0, rougeL: 0.1, rougeLsum: 0.1 } },
      zeroShot: { model: 'tiny-t5', rouge: null, skipped: 'random weights' },
      best: { name: 'lead', rougeL: 0.15 },
    },
    datasets,
    gate: { champion: null, review: null },
  };
}

export function uniqueName(what: string): string {
  return `${what}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}
