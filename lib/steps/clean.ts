/**
 * Contracts of the clean and split steps. Both run in TypeScript (activities/clean/,
 * activities/split.ts), no Python module: clean's plan, shard tasks and merge, then the split.
 */
import { z } from 'zod';
import { ColumnMapping, FileFormat } from '../config';
import { count, path, StepInput } from './common';

/**
 * Where every row read went: `read = kept + droppedByRule + quarantined + deduped + sampledOut`
 * (the clean step fails when it does not hold); `droppedByRule` is the sum of its three rules.
 */
export const CleanCounts = z.object({
  /** Data rows read from the input files (headers and blank lines excluded). */
  read: count,
  kept: count,
  droppedByRule: count,
  /** Rows whose body or headline is empty after cleaning (the seed drops them). */
  droppedEmpty: count,
  /** Rows with fewer words than `data.minTextWords` / `data.minSummaryWords` after cleaning. */
  droppedShort: count,
  /** Rows outside `data.category`. */
  filteredCategory: count,
  sampledOut: count,
  /** Malformed rows, each written to the quarantine file with its file, line and reason. */
  quarantined: count,
  /** Later copies of a review id already kept (the first in file order wins). */
  deduped: count,
});
export type CleanCounts = z.infer<typeof CleanCounts>;

export const CleanResult = z.object({
  cleanedPath: path,
  quarantinePath: path,
  counts: CleanCounts,
});
export type CleanResult = z.infer<typeof CleanResult>;

/** One input file as clean resolved it. */
export const InputFile = z.object({
  path,
  format: FileFormat,
  gzip: z.boolean(),
  sizeBytes: count,
  mtime: z.string(),
  /** The path relative to the input's folder: unique within the input, used in synthetic review ids. */
  name: z.string(),
});
export type InputFile = z.infer<typeof InputFile>;

/**
 * A unit of clean's work: a whole file, or a byte range of a large uncompressed TSV (all of whose
 * ranges carry the file's columns). Each writes its own parts; the index orders them as (file, range),
 * which decides which copy of a duplicated review is kept.
 */
export const CleanTask = z.object({
  index: count,
  file: InputFile,
  /** Bytes [start, end) of the file; end null: to its end. */
  range: z.object({ start: count, end: count.nullable() }),
  /**
   * Where the file keeps each field, worked out once by the plan: the column each field is read
   * from (`data.columns` over the format's defaults), and the file's header as each field's
   * position in it (-1: absent) and its width. `header` is null for JSONL (a row's fields are its
   * keys) and for a header the plan's look at the file's head did not hold (its task reads it).
   */
  columns: z.object({
    names: z.record(ColumnMapping.keyof(), z.string()),
    header: z.object({ width: count, at: z.record(ColumnMapping.keyof(), z.number().int().min(-1)) }).nullable(),
  }),
  candidatesPath: path,
  quarantinePath: path,
});
export type CleanTask = z.infer<typeof CleanTask>;

/** What a clean task counted. */
export const CleanTaskResult = CleanCounts.pick({
  read: true,
  quarantined: true,
  droppedEmpty: true,
  droppedShort: true,
  filteredCategory: true,
  sampledOut: true,
}).extend({
  index: count,
  /** Rows passed on to the merge, which dedupes them into kept and deduped. */
  candidates: count,
  /** Physical lines of the range (a later range of a file has no header line). */
  lines: count,
  blankLines: count,
  headerSeen: z.boolean(),
});
export type CleanTaskResult = z.infer<typeof CleanTaskResult>;

/** clean's plan: the resolved input, probed, cut into tasks (shards) that run in parallel. */
export const CleanPlan = z.object({
  files: z.array(InputFile),
  /** Files in an input folder without a known extension, left out (recorded in the manifest). */
  skipped: z.array(z.string()),
  tasks: z.array(CleanTask).min(1),
  /** Threads one process would use for all tasks (data.threads, or by input size). */
  threads: z.number().int().positive(),
  startedAt: z.string(),
});
export type CleanPlan = z.infer<typeof CleanPlan>;

export const CleanShardInput = StepInput.extend({ task: CleanTask });
export type CleanShardInput = z.infer<typeof CleanShardInput>;

export const MergeCleanInput = StepInput.extend({ plan: CleanPlan, results: z.array(CleanTaskResult) });
export type MergeCleanInput = z.infer<typeof MergeCleanInput>;

export const SplitInput = StepInput.extend({ cleanedPath: path });
export type SplitInput = z.infer<typeof SplitInput>;

export const SplitResult = z.object({
  trainPath: path,
  validationPath: path,
  trainRows: count,
  validationRows: count,
});
export type SplitResult = z.infer<typeof SplitResult>;
