/**
 * The worker-thread pool that runs clean's tasks: `runTasks` hands tasks to threads (or runs them
 * inline), `serveTasks` is a thread's side. Threads report progress, so the caller heartbeats.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { InvalidDataError } from '../../lib/failures';
import type { CleanTask, CleanTaskResult } from '../../lib/steps';
import type { DataConfig } from './inputs';
import { runTask } from './task';

/** Hooks for the Temporal activity around `clean`: heartbeat and cancellation. */
export interface CleanHooks {
  /** Called after each input chunk with the rows read so far. */
  onProgress?: (rowsRead: number) => void;
  /** Aborting stops the step after the current chunk; no output is published. */
  signal?: AbortSignal;
}

/** Where a worker thread's messages go. */
type WorkerMessage =
  | { kind: 'progress'; index: number; read: number }
  | { kind: 'done'; result: CleanTaskResult }
  | { kind: 'failed'; invalidData: { file: string; problem: string; remedy: string } | null; message: string; stack?: string };

/**
 * Runs the tasks on up to `threads` worker threads (inline when one is enough). A worker loads
 * this module through tsx, so it runs the same code as the inline path.
 */
export async function runTasks(tasks: readonly CleanTask[], data: DataConfig, threads: number, hooks: CleanHooks): Promise<CleanTaskResult[]> {
  const readByTask = new Array<number>(tasks.length).fill(0);
  const progress = (index: number, read: number) => {
    readByTask[index] = read;
    hooks.signal?.throwIfAborted();
    hooks.onProgress?.(readByTask.reduce((sum, rows) => sum + rows, 0));
  };
  if (threads <= 1) {
    const results: CleanTaskResult[] = [];
    for (const task of tasks) results.push(await runTask(task, data, (read) => progress(task.index, read)));
    return results;
  }
  const results: CleanTaskResult[] = [];
  const workers: Worker[] = [];
  let next = 0;
  let onAbort = () => {};
  try {
    await new Promise<void>((resolveAll, rejectAll) => {
      const fail = (error: unknown) => rejectAll(error);
      const startNext = (worker: Worker) => {
        if (next < tasks.length) worker.postMessage(tasks[next++]);
        else if (results.length === tasks.length) resolveAll();
      };
      onAbort = () => fail(hooks.signal!.reason);
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      for (let i = 0; i < Math.min(threads, tasks.length); i += 1) {
        const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: { module: __filename, data } });
        workers.push(worker);
        worker.on('error', fail);
        worker.on('message', (message: WorkerMessage) => {
          try {
            if (message.kind === 'progress') return progress(message.index, message.read);
            if (message.kind === 'failed') {
              const { invalidData } = message;
              if (invalidData !== null) return fail(new InvalidDataError(invalidData.file, invalidData.problem, invalidData.remedy));
              return fail(Object.assign(new Error(message.message), { stack: message.stack }));
            }
            results.push(message.result);
            startNext(worker);
          } catch (error) {
            fail(error);
          }
        });
        startNext(worker);
      }
    });
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return results.sort((a, b) => a.index - b.index);
}

/** A worker thread: registers tsx (TypeScript) and serves tasks with `serveTasks` below. */
const WORKER_BOOTSTRAP = `require('tsx/cjs/api').register(); require(require('node:worker_threads').workerData.module).serveTasks();`;

/** The worker side of `runTasks`. */
export function serveTasks(): void {
  const { data } = workerData as { data: DataConfig };
  parentPort!.on('message', (task: CleanTask) => {
    runTask(task, data, (read) => parentPort!.postMessage({ kind: 'progress', index: task.index, read } satisfies WorkerMessage)).then(
      (result) => parentPort!.postMessage({ kind: 'done', result } satisfies WorkerMessage),
      (error: Error) => {
        const invalidData = error instanceof InvalidDataError ? { file: error.file, problem: error.problem, remedy: error.remedy } : null;
        parentPort!.postMessage({ kind: 'failed', invalidData, message: error.message, stack: error.stack } satisfies WorkerMessage);
      },
    );
  });
}
