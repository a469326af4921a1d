/**
 * The clean step: raw reviews -> `cleaned.parquet` (+ `quarantine.jsonl`, `manifest.json`) in
 * `<storage.root>/<pipelineId>/clean/`, as three activities: `planClean` resolves and probes the
 * input and cuts it into tasks, `cleanShard` runs one task, `mergeClean` merges their parts.
 * `clean` runs the same three in one process.
 *
 * Streams every input file (never holds one in memory): each data row is either quarantined
 * (malformed: written to `quarantine.jsonl` with file, line and reason), dropped by a rule
 * (category, empty or too short after cleaning), sampled out (a hash of (seed, review id)), or
 * becomes a candidate; candidates go to temporary CSVs that DuckDB dedupes by review id and
 * writes as Parquet. Every row is accounted for:
 * `read = kept + droppedByRule + quarantined + deduped + sampledOut`, checked before publishing.
 * Whole-file faults throw `InvalidDataError` (not retryable), found by a look at each file's
 * head before any row is processed where the head shows them (inputs.ts).
 *
 * Files, and byte ranges of large uncompressed TSVs, are tasks that run on worker threads
 * (`data.threads`); the result does not depend on how many. docs/data-preparation.md describes
 * the rules for users.
 *
 *   inputs.ts (resolve, probe) -> columns.ts -> plan's tasks -> task.ts (lines.ts, formats/,
 *   rows.ts) on threads.ts -> merge.ts
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { z } from 'zod';
import { configHash, ensureStepDir, writeFileAtomic } from '../../lib/artifacts';
import { CleanTaskResult, type CleanPlan, type CleanResult, type CleanShardInput, type CleanTask, type InputFile, type MergeCleanInput, type StepInput } from '../../lib/steps';
import type { FileColumns } from './columns';
import { probe, resolveInput } from './inputs';
import { lineStartAfter, type ByteRange } from './lines';
import { finishedClean, manifestPathIn, mergeParts } from './merge';
import { runTasks, type CleanHooks } from './threads';

export type { CleanHooks } from './threads';
export { assertRowsAddUp } from './merge';

/** A TSV is split into byte ranges of at least this size, cleaned in parallel. */
const RANGE_MIN_BYTES = 16 * 1024 * 1024;

/** The folder of the tasks' parts (candidates, quarantine lines, cached results) until the merge. */
const shardDir = (outDir: string) => join(outDir, 'shards');

/**
 * Cleans `config.data.input` into `<storage.root>/<pipelineId>/clean/` in this process: the
 * plan's tasks on worker threads, then the merge. The pipeline runs the same three parts as
 * activities instead (planClean, cleanShard on any number of CPU workers, mergeClean).
 */
export async function clean(input: StepInput, hooks: CleanHooks = {}): Promise<CleanResult> {
  const plan = await planClean(input);
  try {
    const results = await runTasks(plan.tasks, input.config.data, Math.min(plan.threads, plan.tasks.length), hooks);
    hooks.signal?.throwIfAborted();
    return await mergeClean({ ...input, plan, results });
  } catch (error) {
    // In one process nothing reuses the parts of a failed run (the activities' cache is per shard).
    await rm(shardDir(await ensureStepDir(input.config, input.pipelineId, 'clean')), { recursive: true, force: true });
    throw error;
  }
}

/**
 * Resolves and probes the input (whole-file faults fail here, before any row is processed) and
 * cuts it into tasks, each with its file's columns, whose parts go under `clean/shards/`.
 */
export async function planClean(input: StepInput): Promise<CleanPlan> {
  const startedAt = new Date().toISOString();
  const data = input.config.data;
  const { files, skipped } = await resolveInput(data);
  const outDir = await ensureStepDir(input.config, input.pipelineId, 'clean');
  // The manifest marks a finished step: remove an earlier run's before touching its outputs.
  await rm(manifestPathIn(outDir), { force: true });
  await mkdir(shardDir(outDir), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const columns: FileColumns[] = [];
    for (const file of files) columns.push(await probe(file, data, connection));
    // Starting a worker thread costs about a second (tsx compiles this module again): by default
    // small inputs run inline, and larger ones get a thread per RANGE_MIN_BYTES up to one per CPU.
    const totalBytes = files.reduce((total, file) => total + file.sizeBytes, 0);
    const threads = data.threads ?? Math.min(availableParallelism(), Math.ceil(totalBytes / RANGE_MIN_BYTES));
    const tasks = await planTasks(files, columns, threads, shardDir(outDir));
    return { files, skipped, tasks, threads: Math.max(threads, 1), startedAt };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * Splits the work into tasks: a large uncompressed Amazon TSV into byte ranges of at least
 * RANGE_MIN_BYTES (about four per thread, so threads finish together), every other file whole.
 * Only the TSV is split: a CSV record may span lines, and JSONL rows without a review id are
 * named by their line number, which a range cannot know. A range after the first reads no header
 * line, so a TSV is split only when its columns are known: the probe found its header, or it has
 * none (`data.header: false`).
 */
async function planTasks(files: readonly InputFile[], columns: readonly FileColumns[], threads: number, workDir: string): Promise<CleanTask[]> {
  const totalBytes = files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const rangeBytes = Math.max(RANGE_MIN_BYTES, Math.ceil(totalBytes / (threads * 4)));
  const tasks: CleanTask[] = [];
  const add = (file: InputFile, range: ByteRange, fileColumns: FileColumns) => {
    const index = tasks.length;
    tasks.push({
      index,
      file,
      range,
      columns: fileColumns,
      candidatesPath: join(workDir, `candidates-${index}.csv`),
      quarantinePath: join(workDir, `quarantine-${index}.jsonl`),
    });
  };
  for (const [fileIndex, file] of files.entries()) {
    const fileColumns = columns[fileIndex];
    if (file.format !== 'amazon-tsv' || file.gzip || fileColumns.header === null || file.sizeBytes < 2 * rangeBytes) {
      add(file, { start: 0, end: null }, fileColumns);
      continue;
    }
    let start = 0;
    while (start < file.sizeBytes) {
      const end = start + rangeBytes >= file.sizeBytes ? null : await lineStartAfter(file.path, start + rangeBytes);
      add(file, { start, end }, fileColumns);
      if (end === null) break;
      start = end;
    }
  }
  return tasks;
}

const CachedTaskResult = z.object({ key: z.string(), result: CleanTaskResult });

/**
 * One task as an activity. Its result is cached next to its parts, keyed by the data config, the
 * file (size, mtime), the range and the columns: a retried pipeline step skips the shards already done.
 */
export async function cleanShard(input: CleanShardInput, hooks: CleanHooks = {}): Promise<CleanTaskResult> {
  const { task } = input;
  const data = input.config.data;
  const resultPath = `${task.candidatesPath}.result.json`;
  const key = configHash({ data, file: task.file, range: task.range, columns: task.columns });
  try {
    const cached = CachedTaskResult.parse(JSON.parse(await readFile(resultPath, 'utf8')));
    if (cached.key === key) return cached.result;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // A large shard runs on a worker thread, so the shards a worker runs at once use its CPUs.
  const bytes = (task.range.end ?? task.file.sizeBytes) - task.range.start;
  const [result] = await runTasks([task], data, bytes >= RANGE_MIN_BYTES ? 2 : 1, hooks);
  hooks.signal?.throwIfAborted();
  await writeFileAtomic(resultPath, JSON.stringify({ key, result } satisfies z.infer<typeof CachedTaskResult>));
  return result;
}

/**
 * Merges the tasks' parts: quarantine lines in file order, candidates deduped by review id into
 * `cleaned.parquet`, the row equation checked, the manifest written last; the parts are removed.
 */
export async function mergeClean(input: MergeCleanInput): Promise<CleanResult> {
  const { tasks } = input.plan;
  const results = [...input.results].sort((a, b) => a.index - b.index);
  if (results.map((result) => result.index).join() !== tasks.map((task) => task.index).join()) {
    throw new Error(`clean: merge got results for tasks [${results.map((r) => r.index)}] of a plan with ${tasks.length} tasks; run every shard first`);
  }
  const outDir = await ensureStepDir(input.config, input.pipelineId, 'clean');
  // planClean removed any earlier manifest: one here is this plan's, from a merge whose activity
  // was lost after it finished (its parts are gone), so its result stands.
  const done = await finishedClean(manifestPathIn(outDir));
  if (done !== null) return done;
  const merged = await mergeParts(input, results, outDir);
  await rm(shardDir(outDir), { recursive: true, force: true });
  return merged;
}
