/**
 * summarize's three activities outside Temporal, real DuckDB, real generation on the tiny T5 (one
 * generation engine for the whole file) and the real MLflow server: the plan's inputs (product
 * documents as the seed makes them), shards generated once and reused, the merge's files, stamps,
 * latency and metrics, and the warning of a model CTranslate2 cannot convert.
 */
import * as path from 'node:path';
import { cp, readFile, stat, writeFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { mergeSummaries, planSummarize, summarizeShards } from '../../activities/summarize';
import { parseConfig, type PipelineConfigInput } from '../../lib/config';
import { sqlString } from '../../lib/artifacts';
import { MlflowClient } from '../../lib/mlflow';
import { stopGenerationEngines } from '../../lib/python-step';
import type { SummarizeInput } from '../../lib/steps';
import { MLFLOW_URI, demoFixture, tempDir } from '../helpers/environment';

let workDir: string;
let model: string;
let runId: string;

/** Reviews in file order: P1 first appears before P0; P2 has too few reviews; '' is no product. */
const REVIEWS: [string, string][] = [
  ['P1', 'b1'], ['P0', 'a1'], ['', 'x1'], ['P1', 'b2'], ['P2', 'c1'], ['P0', 'a2'],
  ['P0', 'a3'], ['', 'x2'], ['P1', 'b3'], ['P0', 'a4'], ['P2', 'c2'],
]; // prettier-ignore
const text = (word: string) => `I bought the camera ${word}. The autofocus is fast and the zoom works well, ${word} stars.`;

async function sql<T>(query: string): Promise<T[]> {
  const connection = await (await DuckDBInstance.create(':memory:')).connect();
  return (await connection.runAndReadAll(query)).getRowObjectsJS() as T[];
}

beforeAll(async () => {
  process.env.TUNEFLOW_QUIET_PYTHON = '1';
  workDir = await tempDir('summarize-steps');
  ({ model } = await demoFixture(workDir, 300, 10));
  const rows = REVIEWS.map(([product, word], i) => `('R${i}', ${sqlString(product)}, ${sqlString(text(word))}, 'Sharp lens')`);
  await sql(
    `COPY (SELECT * FROM (VALUES ${rows.join(', ')}) t(review_id, product_id, text, summary)) TO ${sqlString(path.join(workDir, 'cleaned.parquet'))} (FORMAT parquet)`,
  );
  const mlflow = new MlflowClient(MLFLOW_URI);
  runId = (await mlflow.createRun(await mlflow.ensureExperiment('tuneflow-tests'), 'summarize-steps-test', {})).info.run_id;
});

afterAll(async () => {
  await stopGenerationEngines();
  delete process.env.TUNEFLOW_QUIET_PYTHON;
});

function stepInput(pipelineId: string, summarize: NonNullable<PipelineConfigInput['summarize']> = {}, modelDir = model): SummarizeInput {
  const config = parseConfig({
    model: { nameOrPath: model, maxSourceLength: 64 },
    summarize: { minReviews: 3, numBeams: 2, minNewTokens: 4, maxNewTokens: 8, shardSize: 6, latencySamples: 3, batchSize: 4, ...summarize },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  });
  return { pipelineId, config, modelDir, cleanedPath: path.join(workDir, 'cleaned.parquet'), modelName: 'tuneflow-steps-test', modelVersion: '7', mlflowRunId: runId };
}

const failureOf = (promise: Promise<unknown>) => promise.then(() => null, (err: unknown) => err as ApplicationFailure);

test('the plan: products with minReviews reviews in order of first appearance, their reviews joined in file order; made once', async () => {
  const input = stepInput('plan');
  expect(await planSummarize(input)).toEqual({ products: { shards: 1, items: 2 }, reviews: { shards: 2, items: 11 } });
  const inputs = path.join(workDir, 'runs', 'plan', 'summarize', 'inputs');
  const products = await sql<{ position: bigint; product_id: string; n_reviews: bigint; text: string }>(
    `SELECT * FROM read_parquet(${sqlString(path.join(inputs, 'products.parquet'))})`,
  );
  expect(products).toEqual([
    { position: 0n, product_id: 'P1', n_reviews: 3n, text: ['b1', 'b2', 'b3'].map(text).join(' ') },
    { position: 1n, product_id: 'P0', n_reviews: 4n, text: ['a1', 'a2', 'a3', 'a4'].map(text).join(' ') },
  ]);
  const reviews = await sql<{ position: bigint; review_id: string }>(`SELECT position, review_id FROM read_parquet(${sqlString(path.join(inputs, 'reviews.parquet'))})`);
  expect(reviews).toEqual(REVIEWS.map((_, i) => ({ position: BigInt(i), review_id: `R${i}` })));

  const planned = (await stat(path.join(inputs, 'plan.json'))).mtimeMs;
  await planSummarize(input);
  expect((await stat(path.join(inputs, 'plan.json'))).mtimeMs).toBe(planned);
  // Other settings cut other shards: planned again.
  expect(await planSummarize(stepInput('plan', { minReviews: 4, perReview: false }))).toEqual({ products: { shards: 1, items: 1 }, reviews: { shards: 0, items: 0 } });
});

test('shards are generated once, the merge needs every one, and writes the stamped files, latency and metrics', async () => {
  const input = stepInput('merge');
  await planSummarize(input);
  const early = await failureOf(mergeSummaries(input));
  expect(early?.message).toContain('3 shard(s) are not finished (first: products-00000)');

  const unknown = await failureOf(summarizeShards(input, [{ kind: 'reviews', index: 2 }]));
  expect(unknown).toBeInstanceOf(ApplicationFailure);
  expect(unknown).toMatchObject({ type: 'InvalidConfig', nonRetryable: true });
  expect(unknown?.message).toContain('reviews 2 are not in the plan');

  expect(await summarizeShards(input, [{ kind: 'reviews', index: 1 }, { kind: 'products', index: 0 }])).toEqual({
    shards: ['reviews-00001', 'products-00000'],
    generated: ['reviews-00001', 'products-00000'],
  });
  // Finished by the first activity: only reviews-00000 is generated.
  expect(await summarizeShards(input, [{ kind: 'products', index: 0 }, { kind: 'reviews', index: 0 }])).toEqual({
    shards: ['products-00000', 'reviews-00000'],
    generated: ['reviews-00000'],
  });

  const result = await mergeSummaries(input);
  expect(result.shards).toEqual({ total: 3, reused: 3, dir: path.join(workDir, 'runs', 'merge', 'summarize', 'shards') });
  expect(result.warnings).toEqual([]);
  const products = await sql<Record<string, unknown>>(`SELECT * FROM read_parquet(${sqlString(result.products.parquet)})`);
  expect(products.map((p) => [p.product_id, p.n_reviews])).toEqual([['P1', 3n], ['P0', 4n]]);
  expect(products.every((p) => typeof p.summary === 'string' && p.summary.trim() !== '')).toBe(true);
  expect(products[0]).toMatchObject({ model_name: 'tuneflow-steps-test', model_version: '7', num_beams: 2n, min_new_tokens: 4n, max_new_tokens: 8n, max_source_length: 64n });
  const reviews = await sql<Record<string, unknown>>(`SELECT * FROM read_parquet(${sqlString(result.reviews!.parquet)})`);
  expect(reviews.map((r) => [r.review_id, r.product_id])).toEqual(REVIEWS.map(([product], i) => [`R${i}`, product]));
  expect(new Set(reviews.map((r) => r.min_new_tokens))).toEqual(new Set([0n])); // a review summary is a headline
  const csv = await sql<Record<string, unknown>>(`SELECT * FROM read_csv(${sqlString(result.products.csv)})`);
  expect(Object.keys(csv[0])).toEqual(Object.keys(products[0]));
  expect(csv.map((p) => p.summary)).toEqual(products.map((p) => p.summary));

  expect(result.latencyMs?.samples).toBe(3);
  expect(result.latencyMs!.p50).toBeGreaterThan(0);
  expect(result.latencyMs!.p95).toBeGreaterThanOrEqual(result.latencyMs!.p50);
  expect(result.summariesPerSec).toBeGreaterThan(0);
  const metrics = Object.fromEntries((await new MlflowClient(MLFLOW_URI).getRun(runId)).data.metrics.map((m) => [m.key, m.value]));
  expect(metrics).toMatchObject({ summarize_products: 2, summarize_reviews: 11, summarize_shards: 3, summarize_latency_p95_ms: result.latencyMs!.p95 });

  // Other generation settings make other summaries: the finished shard is not reused.
  const changed = stepInput('merge', { maxNewTokens: 10 });
  expect((await summarizeShards(changed, [{ kind: 'products', index: 0 }])).generated).toEqual(['products-00000']);
});

test('a model CTranslate2 cannot convert is summarized with transformers, and the step says so', async () => {
  // A T5 with an activation transformers has and CTranslate2's converter does not.
  const mish = path.join(workDir, 'mish-t5');
  await cp(model, mish, { recursive: true });
  // Edited as text: JSON.stringify would write the config's 1.0 floats as integers, which transformers refuses.
  const config = await readFile(path.join(mish, 'config.json'), 'utf8');
  await writeFile(path.join(mish, 'config.json'), config.replace(/"(feed_forward_proj|dense_act_fn)": "relu"/g, '"$1": "mish"'));
  const input = stepInput('unconvertible', { perReview: false, latencySamples: 0 }, mish);
  await planSummarize(input);
  await summarizeShards(input, [{ kind: 'products', index: 0 }]);
  const result = await mergeSummaries(input);
  expect(result.products.rows).toBe(2);
  expect(result.warnings).toEqual([expect.stringContaining(`${mish} cannot be converted to CTranslate2 (KeyError: 'mish'); its summaries were generated with transformers`)]);
});
