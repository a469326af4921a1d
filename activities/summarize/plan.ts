/**
 * summarize's plan (TypeScript + DuckDB, no Python): cleaned.parquet -> the step's inputs under
 * `<step dir>/inputs/`, one row per summary to make, numbered by `position`:
 *
 *   products.parquet  position, product_id, n_reviews, text   products with >= summarize.minReviews
 *                     reviews, in order of first appearance; text = their reviews joined with " " in
 *                     file order (the seed's collect_list + concat_ws)
 *   reviews.parquet   position, review_id, product_id, text   every review in file order (perReview)
 *   plan.json         what they were made from, written last
 *
 * Shard i of a kind is positions [i * shardSize, (i + 1) * shardSize). The plan is made once per
 * cleaned file and settings: plan.json names the file's size, mtime and sha256, and an activity
 * finding one that matches reuses it (a retried or continued BulkSummarize, every shard activity).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { ensureStepDir, sqlString, tempPathFor, writeFileAtomic } from '../../lib/artifacts';
import { toLocalPaths, toStorageUris } from '../../lib/storage/location';
import { InvalidDataError } from '../../lib/failures';
import type { ShardRef, SummarizeInput, SummarizePlan } from '../../lib/steps';

export type ShardKind = ShardRef['kind'];
export const SHARD_KINDS: readonly ShardKind[] = ['products', 'reviews'];

const PLAN_VERSION = 1;
const REQUIRED_COLUMNS = ['review_id', 'product_id', 'text'] as const;

const count = z.number().int().nonnegative();
const PlannedInputs = z.object({ path: z.string(), items: count, shards: count });

/** plan.json: the inputs files and what they were made from. */
export const InputsPlan = z.object({
  version: z.literal(PLAN_VERSION),
  cleaned: z.object({ path: z.string(), sizeBytes: count, mtimeMs: z.number(), sha256: z.string() }),
  settings: z.object({ minReviews: count, shardSize: count, perReview: z.boolean() }),
  products: PlannedInputs,
  reviews: PlannedInputs,
  plannedAt: z.string(),
});
export type InputsPlan = z.infer<typeof InputsPlan>;

export function stepSummary(plan: InputsPlan): SummarizePlan {
  return {
    products: { shards: plan.products.shards, items: plan.products.items },
    reviews: { shards: plan.reviews.shards, items: plan.reviews.items },
  };
}

/** The rows of shard `index` of a kind: positions [start, end). */
export function shardRows(plan: InputsPlan, kind: ShardKind, index: number): { start: number; end: number } {
  const size = plan.settings.shardSize;
  return { start: index * size, end: Math.min((index + 1) * size, plan[kind].items) };
}

export const shardName = (kind: ShardKind, index: number) => `${kind}-${String(index).padStart(5, '0')}`;

const inputsDir = (stepDir: string) => join(stepDir, 'inputs');
const planPath = (stepDir: string) => join(inputsDir(stepDir), 'plan.json');

/** The plan for this input: plan.json when it matches the cleaned file and the settings, else made anew. */
export async function ensurePlan(input: SummarizeInput): Promise<{ plan: InputsPlan; stepDir: string }> {
  const stepDir = await ensureStepDir(input.config, input.pipelineId, 'summarize');
  const cleaned = await stat(input.cleanedPath).catch(() => {
    throw new InvalidDataError(input.cleanedPath, 'the cleaned Parquet file does not exist or cannot be read', 'Run the clean step first (or pass the cleanedPath it returned)');
  });
  const settings = planSettings(input);
  const existing = await readPlan(input, stepDir);
  const sameSettings = existing && JSON.stringify(existing.settings) === JSON.stringify(settings);
  // A copy fetched from an object store has a new mtime: the same bytes are then the same file.
  const sameFile =
    existing &&
    existing.cleaned.path === input.cleanedPath &&
    existing.cleaned.sizeBytes === cleaned.size &&
    (existing.cleaned.mtimeMs === cleaned.mtimeMs || existing.cleaned.sha256 === (await sha256File(input.cleanedPath)));
  if (existing && sameSettings && sameFile) return { plan: existing, stepDir };
  const plan = await makePlan(input, stepDir, {
    path: input.cleanedPath,
    sizeBytes: cleaned.size,
    mtimeMs: cleaned.mtimeMs,
    sha256: await sha256File(input.cleanedPath),
  });
  return { plan, stepDir };
}

function planSettings(input: SummarizeInput): InputsPlan['settings'] {
  const { minReviews, shardSize, perReview } = input.config.summarize;
  return { minReviews, shardSize, perReview };
}

/** plan.json names its files by storage URI (lib/storage/location.ts): any worker reads it as its own paths. */
async function readPlan(input: SummarizeInput, stepDir: string): Promise<InputsPlan | null> {
  const text = await readFile(planPath(stepDir), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    return toLocalPaths(InputsPlan.parse(JSON.parse(text)), input.config);
  } catch {
    return null; // another version's plan, or a damaged file: planned again
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

async function makePlan(input: SummarizeInput, stepDir: string, cleaned: InputsPlan['cleaned']): Promise<InputsPlan> {
  const settings = planSettings(input);
  const dir = inputsDir(stepDir);
  await mkdir(dir, { recursive: true });
  // A plan.json names complete files only: the old one goes before they are replaced.
  await rm(planPath(stepDir), { force: true });
  const spillDir = tempPathFor(join(dir, 'duckdb-spill'));
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: spillDir });
  const connection = await instance.connect();
  try {
    await checkCleaned(connection, input.cleanedPath);
    await connection.run(
      `CREATE VIEW cleaned AS SELECT review_id, product_id, text, file_row_number AS row_number
       FROM read_parquet(${sqlString(input.cleanedPath)}, file_row_number = true)`,
    );
    // Reviews without a product id (a CSV input may have none) belong to no product.
    const products = await writeInputs(
      connection,
      join(dir, 'products.parquet'),
      `SELECT (row_number() OVER (ORDER BY first_row) - 1)::BIGINT AS position, product_id, n_reviews, text FROM (
         SELECT product_id, count(*)::BIGINT AS n_reviews, string_agg(text, ' ' ORDER BY row_number) AS text, min(row_number) AS first_row
         FROM cleaned WHERE product_id <> '' GROUP BY product_id HAVING count(*) >= ${settings.minReviews})
       ORDER BY position`,
      settings.shardSize,
    );
    const reviews = settings.perReview
      ? await writeInputs(
          connection,
          join(dir, 'reviews.parquet'),
          'SELECT row_number::BIGINT AS position, review_id, product_id, text FROM cleaned ORDER BY position',
          settings.shardSize,
        )
      : { path: join(dir, 'reviews.parquet'), items: 0, shards: 0 };
    const plan: InputsPlan = { version: PLAN_VERSION, cleaned, settings, products, reviews, plannedAt: new Date().toISOString() };
    await writeFileAtomic(planPath(stepDir), `${JSON.stringify(toStorageUris(plan, input.config), null, 2)}\n`);
    return plan;
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(spillDir, { recursive: true, force: true });
  }
}

/** Every whole-file fault of cleaned.parquet, as clean's own output would never have it. */
async function checkCleaned(connection: DuckDBConnection, cleanedPath: string): Promise<void> {
  const source = `read_parquet(${sqlString(cleanedPath)})`;
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`).catch((error: Error) => {
    throw new InvalidDataError(cleanedPath, `cannot read it as Parquet (${error.message.split('\n')[0]})`, 'Run the clean step again to rewrite it');
  });
  const present = new Set(described.getRowObjectsJS().map((row) => row.column_name as string));
  const missing = REQUIRED_COLUMNS.filter((column) => !present.has(column));
  if (missing.length > 0) {
    throw new InvalidDataError(cleanedPath, `the cleaned file lacks column(s) ${missing.join(', ')} (has ${[...present].join(', ')})`, 'Run the clean step again to rewrite it');
  }
  const nullCounts = REQUIRED_COLUMNS.map((column) => `count(*) FILTER (WHERE ${column} IS NULL)`).join(', ');
  const [[rows, ...nulls]] = (await connection.runAndReadAll(`SELECT count(*), ${nullCounts} FROM ${source}`)).getRowsJS() as bigint[][];
  if (rows === 0n) {
    throw new InvalidDataError(cleanedPath, 'the cleaned file has no rows', 'Check data.input, data.category and data.sampleFraction');
  }
  const withNulls = REQUIRED_COLUMNS.map((column, i) => (nulls[i] > 0n ? `${nulls[i]} in ${column}` : null)).filter((found) => found !== null);
  if (withNulls.length > 0) {
    throw new InvalidDataError(cleanedPath, `the cleaned file has null values (${withNulls.join(', ')})`, 'Run the clean step again: it drops such rows');
  }
}

/** Writes `query`'s rows (ordered by position) to `target` atomically; row groups of one shard, so a shard reads only its own. */
async function writeInputs(connection: DuckDBConnection, target: string, query: string, shardSize: number): Promise<z.infer<typeof PlannedInputs>> {
  const temp = tempPathFor(target);
  try {
    await connection.run(`COPY (${query}) TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${Math.min(shardSize, 122_880)})`);
    const [[items]] = (await connection.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(temp)})`)).getRowsJS() as bigint[][];
    await rename(temp, target);
    return { path: target, items: Number(items), shards: Math.ceil(Number(items) / shardSize) };
  } finally {
    await rm(temp, { force: true });
  }
}
