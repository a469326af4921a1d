/**
 * summarize's merge (TypeScript + DuckDB, no Python, no model): once every shard is finished,
 * the inputs joined with their summaries by position into `product_summaries.parquet/.csv` (and
 * `review_summaries.*`), each summary stamped with the model and the settings that made it;
 * throughput and single-request latency from the shards' manifests, logged to the MLflow run.
 */
import { join } from 'node:path';
import { rename, rm } from 'node:fs/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { sqlString, tempPathFor } from '../../lib/artifacts';
import { InvalidDataError } from '../../lib/failures';
import { MlflowClient } from '../../lib/mlflow';
import type { SummarizeInput, SummarizeResult } from '../../lib/steps';
import type { InputsPlan, ShardKind } from './plan';
import { finishedManifest, generationOf, modelOf, shardDirOf, type Shard, type ShardManifest } from './shards';

const ID_COLUMNS: Record<ShardKind, string[]> = { products: ['product_id', 'n_reviews'], reviews: ['review_id', 'product_id'] };
const OUTPUT_STEM: Record<ShardKind, string> = { products: 'product_summaries', reviews: 'review_summaries' };

type SummaryFiles = NonNullable<SummarizeResult['reviews']>;

export async function mergeShards(input: SummarizeInput, plan: InputsPlan, stepDir: string, shards: readonly Shard[]): Promise<SummarizeResult> {
  const settings = input.config.summarize;
  const shardDir = shardDirOf(stepDir);
  const manifests = await Promise.all(shards.map(finishedManifest));
  const unfinished = shards.filter((_, i) => manifests[i] === null);
  if (unfinished.length > 0) {
    throw new InvalidDataError(
      shardDir,
      `cannot merge the summaries of ${input.cleanedPath}: ${unfinished.length} shard(s) are not finished (first: ${unfinished[0].name})`,
      'Run their summarizeShards again (finished shards are kept)',
    );
  }
  const finished = manifests as ShardManifest[];
  // An engine's warning (a model CTranslate2 cannot convert, ...) once, however many shards it concerns.
  const warnings = [...new Set(finished.map((m) => m.engine.warning).filter((warning) => warning !== null))];
  if (plan.products.items === 0) {
    // Not an error: a small sample may have no such product; the files then hold no rows.
    warnings.push(
      `no product in ${input.cleanedPath} has summarize.minReviews=${settings.minReviews} reviews or more; ` +
        'lower summarize.minReviews or use more data (data.sampleFraction) to get product summaries',
    );
  }

  const spillDir = tempPathFor(join(stepDir, 'duckdb-spill'));
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: spillDir });
  const connection = await instance.connect();
  try {
    const ofKind = (kind: ShardKind) => finished.filter((manifest) => manifest.kind === kind);
    const products = await writeSummaries(connection, input, plan, 'products', ofKind('products'), stepDir);
    let reviews: SummaryFiles | null = null;
    if (settings.perReview) {
      reviews = await writeSummaries(connection, input, plan, 'reviews', ofKind('reviews'), stepDir);
      const empty = await countEmpty(connection, reviews.parquet);
      if (empty > 0) warnings.push(`${empty} of ${reviews.rows} review summaries are empty`);
    }

    const rows = finished.reduce((total, m) => total + m.rows, 0);
    const seconds = finished.reduce((total, m) => total + m.seconds, 0);
    // Per worker: shards that ran side by side each count their own time.
    const summariesPerSec = seconds > 0 ? rows / seconds : 0;
    const latencies = [...ofKind('products'), ...ofKind('reviews')].flatMap((m) => m.latencySeconds).slice(0, settings.latencySamples);
    const latencyMs =
      latencies.length > 0 ? { p50: percentile(latencies, 50) * 1000, p95: percentile(latencies, 95) * 1000, samples: latencies.length } : null;
    const metrics: Record<string, number> = {
      summarize_products: products.rows,
      summarize_reviews: reviews?.rows ?? 0,
      summarize_shards: shards.length,
      summarize_shards_reused: shards.length, // every shard was finished before the merge
      summarize_per_sec: summariesPerSec,
      ...(latencyMs ? { summarize_latency_p50_ms: latencyMs.p50, summarize_latency_p95_ms: latencyMs.p95 } : {}),
    };
    await new MlflowClient(input.config.mlflow.trackingUri).logMetrics(input.mlflowRunId, metrics);
    return { products, reviews, summariesPerSec, latencyMs, shards: { total: shards.length, reused: shards.length, dir: shardDir }, warnings };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(spillDir, { recursive: true, force: true });
  }
}

/** The kind's inputs joined with their summaries, in position order, as parquet and CSV. */
async function writeSummaries(
  connection: DuckDBConnection,
  input: SummarizeInput,
  plan: InputsPlan,
  kind: ShardKind,
  manifests: readonly ShardManifest[],
  stepDir: string,
): Promise<SummaryFiles> {
  const outputs = manifests.map((m) => join(shardDirOf(stepDir), m.output));
  const summaries = outputs.length > 0 ? `read_parquet([${outputs.map(sqlString).join(', ')}])` : '(SELECT NULL::BIGINT AS position, NULL::VARCHAR AS summary WHERE false)';
  const model = modelOf(input);
  const generation = generationOf(input, kind);
  const stamps = [
    `${sqlString(model.name)} AS model_name`,
    `${sqlString(model.version)} AS model_version`,
    `${generation.numBeams}::BIGINT AS num_beams`,
    `${generation.minNewTokens}::BIGINT AS min_new_tokens`,
    `${generation.maxNewTokens}::BIGINT AS max_new_tokens`,
    `${generation.maxSourceLength}::BIGINT AS max_source_length`,
  ];
  const ids = ID_COLUMNS[kind].map((column) => `i.${column}`).join(', ');
  const query = `SELECT ${ids}, s.summary, ${stamps.join(', ')}
    FROM read_parquet(${sqlString(plan[kind].path)}) i JOIN ${summaries} s USING (position) ORDER BY i.position`;
  const stem = join(stepDir, OUTPUT_STEM[kind]);
  const files = { parquet: `${stem}.parquet`, csv: `${stem}.csv` };
  const temps = { parquet: tempPathFor(files.parquet), csv: tempPathFor(files.csv) };
  try {
    await connection.run(`COPY (${query}) TO ${sqlString(temps.parquet)} (FORMAT parquet, COMPRESSION zstd)`);
    await connection.run(`COPY (SELECT * FROM read_parquet(${sqlString(temps.parquet)})) TO ${sqlString(temps.csv)} (FORMAT csv, HEADER true)`);
    const [[written]] = (await connection.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(temps.parquet)})`)).getRowsJS() as bigint[][];
    const rows = Number(written);
    if (rows !== plan[kind].items) {
      throw new Error(
        `summarize: ${plan[kind].items} ${kind} were planned in ${plan[kind].path} but their shards hold ${rows} summaries; ` +
          'this is a bug in activities/summarize (shard rows); remove the shards folder and summarize again',
      );
    }
    await rename(temps.parquet, files.parquet);
    await rename(temps.csv, files.csv);
    return { ...files, rows };
  } finally {
    await Promise.all(Object.values(temps).map((temp) => rm(temp, { force: true })));
  }
}

async function countEmpty(connection: DuckDBConnection, parquet: string): Promise<number> {
  const [[empty]] = (await connection.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(parquet)}) WHERE summary = ''`)).getRowsJS() as bigint[][];
  return Number(empty);
}

/** The q-th percentile, linear between the closest ranks (Python's statistics.quantiles, inclusive). */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = ((sorted.length - 1) * q) / 100;
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}
