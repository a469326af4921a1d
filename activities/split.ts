/**
 * The split step: cleaned.parquet -> `train.parquet` and `validation.parquet` (+ `manifest.json`)
 * in `<storage.root>/<pipelineId>/split/`.
 *
 * A review goes to validation when the hash fraction of (split.seed, key) is below
 * split.validationFraction, the key being its review_id (`splitBy: review`) or its product_id
 * (`splitBy: product`: every review of a product lands on the same side). Deterministic,
 * independent of row order, and a row keeps its side when other rows are added or removed.
 *
 * The first step that knows the validation rows also refuses a config that asks to evaluate more
 * of them than there are (evaluate.maxSamples, train.evalSamples): the preflight runs before clean
 * has counted the rows it keeps.
 */
import { join } from 'node:path';
import { rename, rm, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { configHash, ensureStepDir, sqlString, tempPathFor, writeFileAtomic } from '../lib/artifacts';
import { hashFractionSql } from '../lib/cleaning';
import type { PipelineConfig } from '../lib/config';
import { InvalidConfigError, InvalidDataError } from '../lib/failures';
import type { SplitInput, SplitResult } from '../lib/steps';

const SPLIT_COLUMNS = ['review_id', 'product_id', 'text', 'summary'] as const;

/** Splits `cleanedPath` into train and validation Parquet files. */
export async function split(input: SplitInput): Promise<SplitResult> {
  const startedAt = new Date();
  const started = performance.now();
  const { validationFraction, seed, splitBy } = input.config.split;
  const key = splitBy === 'product' ? 'product_id' : 'review_id';
  const cleanedPath = input.cleanedPath;
  const source = await stat(cleanedPath).catch(() => {
    throw new InvalidDataError(cleanedPath, 'the cleaned Parquet file does not exist or cannot be read', 'Run the clean step first (or pass the cleanedPath it returned)');
  });

  const outDir = await ensureStepDir(input.config, input.pipelineId, 'split');
  const manifestPath = join(outDir, 'manifest.json');
  // The manifest marks a finished step: remove an earlier run's before touching its outputs.
  await rm(manifestPath, { force: true });
  const trainPath = join(outDir, 'train.parquet');
  const validationPath = join(outDir, 'validation.parquet');
  const trainTemp = tempPathFor(trainPath);
  const validationTemp = tempPathFor(validationPath);

  // Bounded memory at any input size: beyond the limit DuckDB spills here; row order is not kept.
  const spillDir = tempPathFor(join(outDir, 'duckdb-spill'));
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '512MB', temp_directory: spillDir, preserve_insertion_order: 'false' });
  const connection = await instance.connect();
  try {
    const described = await connection
      .runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(cleanedPath)})`)
      .catch((error: Error) => {
        throw new InvalidDataError(cleanedPath, `cannot read it as Parquet (${error.message.split('\n')[0]})`, 'Run the clean step again to rewrite it');
      });
    const present = new Set(described.getRowObjectsJS().map((row) => row.column_name as string));
    const missing = SPLIT_COLUMNS.filter((column) => !present.has(column));
    if (missing.length > 0) {
      throw new InvalidDataError(cleanedPath, `the cleaned file lacks column(s) ${missing.join(', ')}`, 'Run the clean step again to rewrite it');
    }

    await connection.run(
      `CREATE VIEW assigned AS SELECT ${SPLIT_COLUMNS.join(', ')},
         ${hashFractionSql('split', seed, key)} < ${validationFraction} AS is_validation
       FROM read_parquet(${sqlString(cleanedPath)})`,
    );
    const count = async (sql: string) => Number((await connection.runAndReadAll(sql)).getRowsJS()[0][0] as bigint);
    // From the Parquet metadata: no scan.
    const totalRows = await count(`SELECT count(*) FROM read_parquet(${sqlString(cleanedPath)})`);
    if (splitBy === 'product') {
      const withoutProduct = await count(`SELECT count(*) FROM read_parquet(${sqlString(cleanedPath)}) WHERE product_id = ''`);
      if (withoutProduct > 0) {
        throw new InvalidDataError(
          cleanedPath,
          `splitBy "product" needs a product id on every row, and ${withoutProduct} of ${totalRows} cleaned rows have none`,
          'Map data.columns.productId to the input\'s product column, or use split.splitBy "review"',
        );
      }
    }

    // Each side in one pass over the input; the sizes are read back from the written files.
    const columns = SPLIT_COLUMNS.join(', ');
    await connection.run(`COPY (SELECT ${columns} FROM assigned WHERE NOT is_validation) TO ${sqlString(trainTemp)} (FORMAT parquet, COMPRESSION zstd)`);
    await connection.run(`COPY (SELECT ${columns} FROM assigned WHERE is_validation) TO ${sqlString(validationTemp)} (FORMAT parquet, COMPRESSION zstd)`);
    const trainRows = await count(`SELECT count(*) FROM read_parquet(${sqlString(trainTemp)})`);
    const validationRows = await count(`SELECT count(*) FROM read_parquet(${sqlString(validationTemp)})`);
    if (trainRows + validationRows !== totalRows) {
      throw new Error(
        `split: wrote ${trainRows} train + ${validationRows} validation rows for ${totalRows} cleaned rows in ${cleanedPath}; this is a bug in activities/split.ts`,
      );
    }
    if (trainRows === 0 || validationRows === 0) {
      throw new InvalidDataError(
        cleanedPath,
        `${totalRows} cleaned rows give ${trainRows} train and ${validationRows} validation rows with validationFraction ${validationFraction}; both sides need rows`,
        'Use more data (a larger input or data.sampleFraction) or adjust split.validationFraction',
      );
    }
    checkEvaluationRows(input.config, validationRows);
    // Split by product, the manifest also records how many products each side holds.
    const products =
      splitBy === 'product'
        ? {
            trainProducts: await count(`SELECT count(DISTINCT product_id) FROM read_parquet(${sqlString(trainTemp)})`),
            validationProducts: await count(`SELECT count(DISTINCT product_id) FROM read_parquet(${sqlString(validationTemp)})`),
          }
        : {};
    await rename(trainTemp, trainPath);
    await rename(validationTemp, validationPath);
    const seconds = (performance.now() - started) / 1000;

    await writeFileAtomic(
      manifestPath,
      JSON.stringify(
        {
          step: 'split',
          pipelineId: input.pipelineId,
          input: { path: cleanedPath, sizeBytes: source.size, mtime: source.mtime.toISOString(), rows: totalRows },
          configHash: configHash(input.config.split),
          config: input.config.split,
          counts: { cleaned: totalRows, train: trainRows, validation: validationRows, ...products },
          timings: { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), seconds },
          outputs: { train: { path: trainPath, rows: trainRows }, validation: { path: validationPath, rows: validationRows } },
        },
        null,
        2,
      ) + '\n',
    );
    return { trainPath, validationPath, trainRows, validationRows };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await Promise.all([trainTemp, validationTemp, spillDir].map((path) => rm(path, { recursive: true, force: true })));
  }
}

/**
 * Throws InvalidConfigError when evaluate (evaluate.maxSamples) or the evaluations during training
 * (train.evalSamples, with train.evalEverySteps) ask for more rows than the validation split holds:
 * each would silently score fewer rows than configured.
 */
function checkEvaluationRows(config: PipelineConfig, validationRows: number): void {
  const asked: [string, number][] = [];
  if (config.evaluate.maxSamples !== null) asked.push(['evaluate.maxSamples', config.evaluate.maxSamples]);
  if (config.train.evalEverySteps !== null) asked.push(['train.evalSamples', config.train.evalSamples]);
  const tooMany = asked.filter(([, rows]) => rows > validationRows);
  if (tooMany.length === 0) return;
  throw new InvalidConfigError(
    tooMany.map(([field]) => field).join(', '),
    `the validation split holds ${validationRows} rows, but ${tooMany.map(([field, rows]) => `${field} asks for ${rows}`).join(' and ')}. ` +
      `Set ${tooMany.map(([field]) => field).join(' and ')} to at most ${validationRows}, or give validation more rows ` +
      `(split.validationFraction, now ${config.split.validationFraction}, or more data)`,
  );
}
