/**
 * Workers in processes of their own, started as production starts them (bin/ts-run
 * workers/<kind>-worker.ts): a test can SIGKILL one, or take the server away from under it.
 */
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';

export type WorkerKind = 'cpu' | 'gpu';

export interface WorkerProcess {
  kind: WorkerKind;
  process: ResultPromise;
  /** Resolves once the worker says it polls its task queue; rejects if it exits first. */
  polling: Promise<void>;
  /** Its output so far (stdout and stderr), for a failure's message. */
  output: string[];
}

export function startWorkerProcess(kind: WorkerKind, address: string, env: Record<string, string> = {}): WorkerProcess {
  const child = execa(path.join(REPO_ROOT, 'bin', 'ts-run'), [path.join(REPO_ROOT, 'workers', `${kind}-worker.ts`)], {
    cwd: REPO_ROOT,
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default', TUNEFLOW_QUIET_PYTHON: '1', ...env },
    reject: false,
    // A SIGTERMed worker gets its whole shutdown, not execa's default SIGKILL 5 s later.
    forceKillAfterDelay: false,
  });
  const output: string[] = [];
  const polling = new Promise<void>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        output.push(line);
        if (/: polling \S+ on /.test(line)) resolve();
      });
    }
    void child.then((exited) => reject(new Error(`${kind} worker exited (${exited.signal ?? exited.exitCode}) before polling:\n${output.join('\n')}`)));
  });
  return { kind, process: child, polling, output };
}

/** SIGTERM, then its whole graceful shutdown; the exit status. */
export async function stopWorkerProcess(worker: WorkerProcess): Promise<number | undefined> {
  if (worker.process.exitCode === null) worker.process.kill('SIGTERM');
  return (await worker.process).exitCode;
}
