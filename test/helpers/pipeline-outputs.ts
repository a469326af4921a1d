/**
 * What a finished pipeline produced, in the terms a fault test compares: what must equal an
 * undisturbed run of the same config and seed, and what must exist exactly once.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../../lib/artifacts';
import { filterString, MlflowClient } from '../../lib/mlflow';
import type { PipelineResult } from '../../lib/pipeline';
import type { CleanCounts } from '../../lib/steps';

export interface PipelineOutputs {
  counts: CleanCounts;
  trainRows: number;
  validationRows: number;
  globalStep: number;
  /** train_loss at the last logged step (the latest value, should a resumed attempt have logged it twice). */
  finalLoss: number;
  /** sha256 of the trained model's weights file. */
  weightsSha256: string;
  rouge: PipelineResult['evaluation']['rouge'];
  /** product id -> its summary. */
  summaries: Record<string, string>;
}

async function sql<T>(query: string): Promise<T[]> {
  const connection = await (await DuckDBInstance.create(':memory:')).connect();
  return (await connection.runAndReadAll(query)).getRowObjectsJS() as T[];
}

type MetricPoint = { step: number; value: number; timestamp: number };

export async function metricHistory(trackingUri: string, runId: string, key: string): Promise<MetricPoint[]> {
  const response = await fetch(`${trackingUri}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=${key}&max_results=10000`);
  if (!response.ok) throw new Error(`MLflow metrics/get-history ${key} of run ${runId}: HTTP ${response.status}`);
  return ((await response.json()) as { metrics?: MetricPoint[] }).metrics ?? [];
}

/** `local` makes a local file of an artifact the result names (a download, for a pipeline on an object store). */
export async function pipelineOutputs(result: PipelineResult, local = async (artifact: string) => artifact): Promise<PipelineOutputs> {
  const losses = await metricHistory(result.config.mlflow.trackingUri, result.train.mlflowRunId, 'train_loss');
  const last = losses.reduce((a, b) => (b.step > a.step || (b.step === a.step && b.timestamp > a.timestamp) ? b : a));
  const weights = await readFile(await local(`${result.train.modelDir}/model.safetensors`));
  const summaries = await sql<{ product_id: string; summary: string }>(
    `SELECT product_id, summary FROM read_parquet(${sqlString(await local(result.summaries.products.parquet))}) ORDER BY product_id`,
  );
  return {
    counts: result.clean.counts,
    trainRows: result.split.trainRows,
    validationRows: result.split.validationRows,
    globalStep: result.train.globalStep,
    finalLoss: last.value,
    weightsSha256: createHash('sha256').update(weights).digest('hex'),
    rouge: result.evaluation.rouge,
    summaries: Object.fromEntries(summaries.map((s) => [s.product_id, s.summary])),
  };
}

/**
 * Every output that must exist once and does not, in words (empty when none): cleaned rows and
 * summaries once per id, one MLflow run for the pipeline, one model version of its model name.
 */
export async function duplicatedOutputs(result: PipelineResult): Promise<string[]> {
  const found: string[] = [];
  const [cleaned] = await sql<{ rows: number; ids: number }>(
    `SELECT count(*)::INTEGER AS rows, count(DISTINCT review_id)::INTEGER AS ids FROM read_parquet(${sqlString(result.clean.cleanedPath)})`,
  );
  if (cleaned.rows !== cleaned.ids) found.push(`cleaned.parquet: ${cleaned.rows} rows for ${cleaned.ids} review ids`);
  if (cleaned.rows !== result.clean.counts.kept) found.push(`cleaned.parquet: ${cleaned.rows} rows, clean counted ${result.clean.counts.kept} kept`);
  const [products] = await sql<{ rows: number; ids: number }>(
    `SELECT count(*)::INTEGER AS rows, count(DISTINCT product_id)::INTEGER AS ids FROM read_parquet(${sqlString(result.summaries.products.parquet)})`,
  );
  if (products.rows !== products.ids) found.push(`product summaries: ${products.rows} rows for ${products.ids} products`);

  const mlflow = new MlflowClient(result.config.mlflow.trackingUri);
  const experiment = await mlflow.getExperimentByName(result.config.mlflow.experiment);
  const runs = experiment ? await mlflow.searchRuns([experiment.experiment_id], `tags.\`tuneflow.pipeline_id\` = ${filterString(result.pipelineId)}`) : [];
  if (runs.length !== 1) found.push(`MLflow runs of pipeline ${result.pipelineId}: ${runs.length}`);
  const versions = await mlflow.searchModelVersions(`name = ${filterString(result.registered.modelName)}`);
  if (versions.length !== 1) found.push(`versions of ${result.registered.modelName}: ${versions.map((v) => v.version).join(', ') || 'none'}`);
  return found;
}
