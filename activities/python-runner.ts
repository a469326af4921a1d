/**
 * Runs one Python step (`python -m tuneflow_ml.<step> --spec spec.json`) for an activity.
 *
 * Events arrive as JSON lines on fd 3 and are validated against `lib/events.ts`; progress and
 * checkpoints are heartbeated (so a retried attempt knows where to resume and the Temporal UI
 * shows them); an `error` event becomes an ApplicationFailure (non-retryable for config, data
 * and out-of-memory faults). The process runs in its own process group: cancellation and worker
 * shutdown send SIGTERM to the whole group (the DeepSpeed launcher starts children), then
 * SIGKILL after a grace period.
 */
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { StepEvent, type CheckpointEvent, type ProgressEvent } from '../lib/events';
import { FAILURE_TYPES } from '../lib/failures';
import { REPO_ROOT } from '../lib/artifacts';

const EVENTS_FD = 3;
const OUTPUT_TAIL_LINES = 40;

/** What the activity heartbeats: readable in the Temporal UI, and the resume point of a retry. */
export interface StepHeartbeat {
  step: string;
  progress: ProgressEvent | null;
  checkpoint: CheckpointEvent | null;
}

export interface PythonStepOptions {
  /** Module under `tuneflow_ml` (train, evaluate, summarize). */
  module: string;
  spec: unknown;
  specPath: string;
  /** Seconds between SIGTERM and SIGKILL, so training can write a last checkpoint. */
  terminateGraceSeconds?: number;
  onEvent?: (event: StepEvent) => void;
}

export function pythonExecutable(): string {
  return process.env.TUNEFLOW_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
}

/** Runs the step to its `result` event and returns that result (validated by the caller). */
export async function runPythonStep(options: PythonStepOptions): Promise<Record<string, unknown>> {
  const context = activityContext();
  await writeFile(options.specPath, JSON.stringify(options.spec, null, 2));

  const child = execa(pythonExecutable(), ['-m', `tuneflow_ml.${options.module}`, '--spec', options.specPath], {
    cwd: REPO_ROOT,
    env: {
      PYTHONPATH: [path.join(REPO_ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
      TUNEFLOW_EVENTS_FD: String(EVENTS_FD),
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    reject: false,
    buffer: false,
  });

  const heartbeat: StepHeartbeat = { step: options.module, progress: null, checkpoint: null };
  const outputTail: string[] = [];
  let result: Record<string, unknown> | null = null;
  let failure: ApplicationFailure | null = null;

  const collectOutput = (stream: Readable | null, label: string) => {
    if (!stream) return Promise.resolve();
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => {
      outputTail.push(line);
      if (outputTail.length > OUTPUT_TAIL_LINES) outputTail.shift();
      if (process.env.TUNEFLOW_QUIET_PYTHON !== '1') process.stderr.write(`[${options.module} ${label}] ${line}\n`);
    });
    return new Promise<void>((resolve) => lines.on('close', resolve));
  };

  const readEvents = async () => {
    const lines = createInterface({ input: child.stdio[EVENTS_FD] as Readable });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const parsed = StepEvent.safeParse(safeJson(line));
      if (!parsed.success) {
        failure = ApplicationFailure.create({
          type: 'ProtocolError',
          message: `tuneflow_ml.${options.module} wrote an event that breaks the protocol (lib/events.ts): ${line.slice(0, 300)}`,
        });
        continue;
      }
      const event = parsed.data;
      options.onEvent?.(event);
      switch (event.event) {
        case 'progress':
          heartbeat.progress = event;
          context?.heartbeat(heartbeat);
          break;
        case 'checkpoint':
          heartbeat.checkpoint = event;
          context?.heartbeat(heartbeat);
          break;
        case 'result':
          result = event.result;
          break;
        case 'error':
          failure = ApplicationFailure.create({
            type: event.kind in FAILURE_TYPES ? event.kind : 'PythonStepError',
            message: `tuneflow_ml.${options.module}: ${event.message}`,
            nonRetryable: !event.retryable,
          });
          break;
        default:
          break;
      }
    }
  };

  // Heartbeat on a timer too: cancellation reaches an activity only through heartbeats, and
  // model loading or a long evaluation can go minutes without an event.
  const ticker = context ? setInterval(() => context.heartbeat(heartbeat), 5_000) : null;
  const finished = Promise.all([
    readEvents(),
    collectOutput(child.stdout, 'stdout'),
    collectOutput(child.stderr, 'stderr'),
    child,
  ]);
  let completed;
  try {
    if (context) {
      const cancelled = context.cancelled.then(() => null);
      const raced = await Promise.race([finished, cancelled.catch((err: unknown) => ({ cancelled: err }))]);
      if (raced && 'cancelled' in raced) {
        await stopProcessGroup(child, options.terminateGraceSeconds ?? 10);
        throw raced.cancelled;
      }
      completed = (raced as Awaited<typeof finished>)[3];
    } else {
      completed = (await finished)[3];
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }

  if (failure) throw failure;
  if (completed.exitCode === 0 && result) return result;
  const tail = outputTail.join('\n');
  throw ApplicationFailure.create({
    type: 'PythonStepCrashed',
    message:
      `tuneflow_ml.${options.module} exited with ${completed.signal ?? `code ${completed.exitCode}`} ` +
      `without ${result ? 'a clean exit' : 'a result'}; last output:\n${tail}`,
  });
}

/** The activity context, or null when a step runs outside a worker (scripts, unit tests). */
function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

/** SIGTERM the whole process group, SIGKILL it after the grace period, and wait for the exit. */
async function stopProcessGroup(child: { pid?: number } & PromiseLike<unknown>, graceSeconds: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  signalGroup(pid, 'SIGTERM');
  const killer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceSeconds * 1000);
  await child;
  clearTimeout(killer);
  // Children that outlive the launcher (DeepSpeed ranks) share its group: make sure none is left.
  signalGroup(pid, 'SIGKILL');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

