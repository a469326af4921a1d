/**
 * Bounded attempts for a step that fails the same way each time (a crash loop), while
 * infrastructure faults keep retrying.
 *
 * train has no attempt limit: a lost worker, node or host must cost one checkpoint interval, not
 * the run. But a bug (a crash at the same place with the same error) would then retry for ever,
 * holding GPUs. So each failed attempt appends its failure to `attempt-failures.jsonl` in the
 * step's folder (under storage.root, which a retry on any worker sees), and when the last
 * `limit` failures are all step errors with the same fingerprint, the attempt fails for good,
 * naming the error and its last output lines.
 */
import * as path from 'node:path';
import { appendFile, readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FAILURE_TYPES } from './failures';
import { jsonOrNull } from './json';

/** Failures of the step itself; rank, worker and storage faults are the infrastructure's. */
const STEP_FAULTS: string[] = [FAILURE_TYPES.PythonStepError, FAILURE_TYPES.PythonStepCrashed, FAILURE_TYPES.ProtocolError];

const AttemptFailure = z.object({ type: z.string(), fingerprint: z.string(), at: z.string() });

/**
 * What stays of a failure across attempts: its type, first and last line, with numbers (pids,
 * ports, steps, times) blanked, so that the same crash matches itself.
 */
export function failureFingerprint(failure: ApplicationFailure): string {
  const lines = failure.message.split('\n').map((line) => line.trim()).filter(Boolean);
  const ends = [lines[0] ?? '', lines.length > 1 ? lines[lines.length - 1] : ''];
  return `${failure.type}: ${ends.join(' … ').replace(/0x[0-9a-f]+|\d+/gi, '#')}`;
}

/**
 * Records a failed attempt of the step in `stepDir`; returns the failure to throw: a final
 * CrashLoop failure once the last `limit` recorded failures match, else `error` itself.
 */
export async function recordAttemptFailure(stepDir: string, step: string, error: unknown, limit: number): Promise<unknown> {
  if (!(error instanceof ApplicationFailure) || error.nonRetryable || !error.type) return error;
  const file = path.join(stepDir, 'attempt-failures.jsonl');
  const entry: z.infer<typeof AttemptFailure> = { type: error.type, fingerprint: failureFingerprint(error), at: new Date().toISOString() };
  let recent: z.infer<typeof AttemptFailure>[];
  try {
    await appendFile(file, `${JSON.stringify(entry)}\n`);
    recent = (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => AttemptFailure.safeParse(jsonOrNull(line)))
      .filter((parsed) => parsed.success)
      .map((parsed) => parsed.data)
      .slice(-limit);
  } catch {
    return error; // storage that refuses the record (the step's own fault, likely) must not hide the failure
  }
  const loop = recent.length === limit && recent.every((f) => STEP_FAULTS.includes(f.type) && f.fingerprint === entry.fingerprint);
  if (!loop) return error;
  return ApplicationFailure.create({
    type: FAILURE_TYPES.CrashLoop,
    nonRetryable: true,
    message:
      `${step} failed the same way ${limit} attempts in a row (a bug or a broken input, not a passing fault), so it ` +
      `is not retried again (train.crashLoopAttempts). The failure:\n${error.message}\n` +
      'Fix the cause, then start the pipeline again, or reset this workflow to before the step (its folder keeps ' +
      `the checkpoints, and a retry resumes from the last complete one). Every attempt's failure: ${file}`,
    cause: error,
  });
}
