/**
 * clean's merge: the tasks' quarantine parts joined in file order, their candidates deduped by
 * review id into `cleaned.parquet` (DuckDB), the row equation checked, and the manifest.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { configHash, resolveFromRepo, sqlString, tempPathFor, writeFileAtomic } from '../../lib/artifacts';
import type { FileFormat } from '../../lib/config';
import { InvalidDataError } from '../../lib/failures';
import { CleanCounts, type CleanResult, type CleanTask, type CleanTaskResult, type InputFile, type MergeCleanInput } from '../../lib/steps';
import { checkFilesRead } from './inputs';
import { BlockWriter } from './rows';

/**
 * The merge's DuckDB threads, and its memory: beyond the limit the dedupe spills to disk, so
 * peak RSS stops growing with the input. Each thread's CSV read buffer counts against the limit,
 * so it grows with the threads (2 threads: 192 MB), and the threads are capped to keep it small.
 * (DuckDB's readers and writers use some memory outside the limit.)
 */
const MERGE_MAX_THREADS = 16;
const mergeMemoryLimitMB = (threads: number) => 128 + 32 * threads;

/**
 * The merge of a plan's finished tasks into `outDir`: quarantine lines in file order, candidates
 * deduped by review id into `cleaned.parquet`, the row equation checked, the manifest written last.
 */
export async function mergeParts(input: MergeCleanInput, results: readonly CleanTaskResult[], outDir: string): Promise<CleanResult> {
  const started = performance.now();
  const { plan } = input;
  const { files, tasks } = plan;
  const data = input.config.data;
  const cleanedPath = join(outDir, 'cleaned.parquet');
  const quarantinePath = join(outDir, 'quarantine.jsonl');
  const cleanedTemp = tempPathFor(cleanedPath);
  const quarantineTemp = tempPathFor(quarantinePath);
  // DuckDB's database and what it spills live here, not in the worker's cwd.
  const workDir = tempPathFor(join(outDir, 'work'));

  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const mergeThreads = Math.min(availableParallelism(), MERGE_MAX_THREADS);
  const instance = await DuckDBInstance.create(join(workDir, 'clean.duckdb'), {
    threads: String(mergeThreads),
    memory_limit: `${mergeMemoryLimitMB(mergeThreads)}MB`,
    temp_directory: join(workDir, 'spill'),
    // The output's row order is not promised; keeping it would buffer rows in memory.
    preserve_insertion_order: 'false',
  });
  const connection = await instance.connect();
  try {
    checkFilesRead(files, tasks, results, data);
    await mergeQuarantine(tasks, results, quarantineTemp);

    const candidates = sum(results, 'candidates');
    const inputs = files.length === 1 ? files[0].path : `${resolveFromRepo(data.input)} (${files.length} files)`;
    // DuckDB cannot read an empty CSV with a schema; no candidates is reported below as no rows left.
    const written = candidates === 0 ? { candidates: 0, kept: 0 } : await writeDeduped(connection, tasks.map((task) => task.candidatesPath), data.maxFieldChars, cleanedTemp);
    if (written.candidates !== candidates) {
      throw new Error(
        `clean: ${candidates} candidate rows were written for ${inputs} but DuckDB read back ${written.candidates}; this is a bug in activities/clean/rows.ts (CSV quoting)`,
      );
    }
    const counts = countRows(results, written);
    assertRowsAddUp(counts, inputs);

    await rename(quarantineTemp, quarantinePath);
    if (counts.kept === 0) {
      throw new InvalidDataError(
        inputs,
        `no rows left after cleaning (${JSON.stringify(counts)}; malformed rows are in ${quarantinePath})`,
        'Check data.category, data.sampleFraction, data.minTextWords, data.columns and data.format against the input',
      );
    }
    await rename(cleanedTemp, cleanedPath);
    await writeManifest(manifestPathIn(outDir), input, results, counts, { cleanedPath, quarantinePath }, performance.now() - started);
    return { cleanedPath, quarantinePath, counts };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await Promise.all([cleanedTemp, quarantineTemp, workDir].map((path) => rm(path, { recursive: true, force: true })));
  }
}

type SummedCount = Exclude<keyof CleanTaskResult, 'index' | 'headerSeen'>;
const sum = (results: readonly CleanTaskResult[], key: SummedCount) => results.reduce((total, result) => total + result[key], 0);

/** The step's counts: the tasks' counts, and what the dedupe kept of their candidates. */
function countRows(results: readonly CleanTaskResult[], written: { candidates: number; kept: number }): CleanCounts {
  const [droppedEmpty, droppedShort, filteredCategory] = [sum(results, 'droppedEmpty'), sum(results, 'droppedShort'), sum(results, 'filteredCategory')];
  return {
    read: sum(results, 'read'),
    kept: written.kept,
    droppedByRule: droppedEmpty + droppedShort + filteredCategory,
    droppedEmpty,
    droppedShort,
    filteredCategory,
    sampledOut: sum(results, 'sampledOut'),
    quarantined: sum(results, 'quarantined'),
    deduped: written.candidates - written.kept,
  };
}

/** What one input file was, and what it held. */
interface FileReport {
  path: string;
  format: FileFormat;
  gzip: boolean;
  sizeBytes: number;
  mtime: string;
  rowsRead: number;
  blankLines: number;
}

function fileReports(files: readonly InputFile[], tasks: readonly CleanTask[], results: readonly CleanTaskResult[]): FileReport[] {
  const reports: FileReport[] = files.map(({ path, format, gzip, sizeBytes, mtime }) => ({ path, format, gzip, sizeBytes, mtime, rowsRead: 0, blankLines: 0 }));
  for (const [i, task] of tasks.entries()) {
    const report = reports[files.findIndex((file) => file.path === task.file.path)];
    report.rowsRead += results[i].read;
    report.blankLines += results[i].blankLines;
  }
  return reports;
}

/** The manifest marks the step finished (finishedClean), so it is written last. */
async function writeManifest(
  manifestPath: string,
  input: MergeCleanInput,
  results: readonly CleanTaskResult[],
  counts: CleanCounts,
  outputs: { cleanedPath: string; quarantinePath: string },
  writeMs: number,
): Promise<void> {
  const { files, skipped, tasks, threads, startedAt } = input.plan;
  const data = input.config.data;
  const reports = fileReports(files, tasks, results);
  const seconds = (Date.now() - Date.parse(startedAt)) / 1000;
  const totalBytes = files.reduce((total, file) => total + file.sizeBytes, 0);
  await writeFileAtomic(
    manifestPath,
    JSON.stringify(
      {
        step: 'clean',
        pipelineId: input.pipelineId,
        // `newest` keeps the pattern next to the file it chose, so the manifest says what was picked from what.
        input: files.length === 1 && data.select === 'all' ? reports[0] : { pattern: data.input, select: data.select, files: reports, skipped },
        configHash: configHash(data),
        config: data,
        counts,
        tasks: tasks.length,
        threads: Math.min(threads, tasks.length),
        timings: {
          startedAt,
          finishedAt: new Date().toISOString(),
          readSeconds: seconds - writeMs / 1000,
          writeSeconds: writeMs / 1000,
          seconds,
          rowsPerSecond: Math.round(counts.read / seconds),
          inputMegabytesPerSecond: totalBytes / 1e6 / seconds,
        },
        outputs: { cleaned: { path: outputs.cleanedPath, rows: counts.kept }, quarantine: { path: outputs.quarantinePath, rows: counts.quarantined } },
      },
      null,
      2,
    ) + '\n',
  );
}

/** Where the step's manifest is: its presence marks a finished step. */
export const manifestPathIn = (outDir: string) => join(outDir, 'manifest.json');

/**
 * Concatenates the tasks' quarantine parts into one file, turning a range's line numbers into
 * the file's (adding the lines of the ranges before it).
 */
async function mergeQuarantine(tasks: readonly CleanTask[], results: readonly CleanTaskResult[], target: string): Promise<void> {
  const out = new BlockWriter(target);
  try {
    let offset = 0;
    for (const [i, task] of tasks.entries()) {
      offset = task.range.start === 0 ? 0 : offset;
      for await (const line of createInterface({ input: createReadStream(task.quarantinePath), crlfDelay: Infinity })) {
        if (offset === 0) out.write(`${line}\n`);
        else {
          const entry = JSON.parse(line) as { line: number };
          out.write(`${JSON.stringify({ ...entry, line: entry.line + offset })}\n`);
        }
        await out.drain();
      }
      offset += results[i].lines;
    }
    await out.close();
  } finally {
    await out.abandon();
  }
}

/**
 * Dedupes the candidates by review id (the first in (task, line) order wins) into `target`;
 * returns the candidate rows DuckDB read and the rows written.
 */
async function writeDeduped(
  connection: DuckDBConnection,
  candidatePaths: readonly string[],
  maxFieldChars: number,
  target: string,
): Promise<{ candidates: number; kept: number }> {
  // A candidate line holds four fields of at most maxFieldChars characters (4 UTF-8 bytes each).
  // DuckDB's default 32 MB read buffer per thread is most of its memory here: 8 MB suffices.
  const maxLineBytes = Math.max(2 * 1024 * 1024, 16 * maxFieldChars + 1024);
  const bufferBytes = Math.max(8 * 1024 * 1024, maxLineBytes);
  await connection.run(
    `CREATE VIEW candidates AS SELECT * FROM read_csv([${candidatePaths.map(sqlString).join(', ')}], header = false, delim = ',', quote = '"', escape = '"',
       new_line = '\\n', allow_quoted_nulls = false, strict_mode = true, max_line_size = ${maxLineBytes}, buffer_size = ${bufferBytes},
       columns = {'seq': 'BIGINT', 'review_id': 'VARCHAR', 'product_id': 'VARCHAR', 'text': 'VARCHAR', 'summary': 'VARCHAR', 'star_rating': 'INTEGER'})`,
  );
  // Two passes keep memory small at any size: duplicates are found among 8-byte hashes of the
  // ids (not the ids themselves), then settled exactly among the few rows whose hash repeats.
  await connection.run(`CREATE TABLE repeated_hashes AS SELECT hash(review_id) AS h FROM candidates GROUP BY h HAVING count(*) > 1`);
  await connection.run(
    `CREATE TABLE repeated AS SELECT review_id, min(seq) AS first_seq, count(*) AS copies FROM candidates
       WHERE hash(review_id) IN (SELECT h FROM repeated_hashes) GROUP BY review_id HAVING count(*) > 1`,
  );
  await connection.run(
    `COPY (SELECT c.review_id, c.product_id, c.text, c.summary, c.star_rating FROM candidates c
             ANTI JOIN repeated r ON c.review_id = r.review_id AND c.seq <> r.first_seq)
       TO ${sqlString(target)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  // Rows DuckDB parsed = kept + later copies: no further scan of the candidates needed.
  const counted = await connection.runAndReadAll(
    `SELECT (SELECT coalesce(sum(copies - 1), 0) FROM repeated) AS deduped, (SELECT count(*) FROM read_parquet(${sqlString(target)})) AS kept`,
  );
  const [row] = counted.getRowObjectsJS() as [{ deduped: bigint; kept: bigint }];
  return { candidates: Number(row.kept + row.deduped), kept: Number(row.kept) };
}

const FinishedManifest = z.object({
  counts: CleanCounts,
  outputs: z.object({ cleaned: z.object({ path: z.string() }), quarantine: z.object({ path: z.string() }) }),
});

/** The result of a merge that already finished (its manifest written), or null. */
export async function finishedClean(manifestPath: string): Promise<CleanResult | null> {
  try {
    const { counts, outputs } = FinishedManifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    return { cleanedPath: outputs.cleaned.path, quarantinePath: outputs.quarantine.path, counts };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** `read = kept + droppedByRule + quarantined + deduped + sampledOut`, or the step fails. */
export function assertRowsAddUp(counts: CleanCounts, inputs: string): void {
  const accounted = counts.kept + counts.droppedByRule + counts.quarantined + counts.deduped + counts.sampledOut;
  const rules = counts.droppedEmpty + counts.droppedShort + counts.filteredCategory;
  if (accounted !== counts.read || rules !== counts.droppedByRule) {
    throw new Error(
      `clean: row accounting failed for ${inputs}: read ${counts.read} != kept + droppedByRule + quarantined + deduped + sampledOut = ${accounted} ` +
        `(or droppedByRule ${counts.droppedByRule} != its rules ${rules}); counts ${JSON.stringify(counts)}. No output was published; this is a bug in activities/clean/`,
    );
  }
}
