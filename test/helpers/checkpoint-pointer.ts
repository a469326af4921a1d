/** Waiting for a training's first checkpoint pointer (latest-checkpoint.json), to kill it after. */
import { readFile } from 'node:fs/promises';

/** The first checkpoint pointer at `file`, polled for as long as the attempt runs (a loaded host is slow). */
export async function waitForPointer(file: string, attempt: Promise<unknown>): Promise<{ checkpoint: string; globalStep: number }> {
  let settled = false;
  void attempt.finally(() => (settled = true));
  while (!settled) {
    try {
      return JSON.parse(await readFile(file, 'utf8'));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`the attempt ended before writing a checkpoint pointer at ${file}: ${String(await attempt)}`);
}
