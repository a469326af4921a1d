/**
 * Runs one Python step (`python -m tuneflow_ml.<step> --spec spec.json`, or the same module
 * under the DeepSpeed launcher, one process per GPU) for an activity.
 *
 * Events arrive as JSON lines on a Unix socket this side listens on (every rank can connect to a
 * path; the launcher closes inherited descriptors) and are validated against `lib/python-step/protocol.ts`;
 * progress and checkpoints are heartbeated (so a retried attempt knows where to resume and the
 * Temporal UI shows them); an `error` event becomes an ApplicationFailure (non-retryable for
 * config, data and out-of-memory faults). If this worker dies, the socket closes and every rank
 * exits (python/tuneflow_ml/events.py), so no orphan trains beside the retry. The processes run
 * in their own process group (process-group.ts): cancellation and worker shutdown send SIGTERM to
 * the whole group, then SIGKILL after a grace period.
 */
import * as path from 'node:path';
import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES, failureTypeOfKind } from '../failures';
import { REPO_ROOT } from '../artifacts';
import { StepEvent, type StepHeartbeat } from './protocol';
import { pythonEnvironment, stepCommand, type Launch } from './launch';
import { collectOutput } from './output';
import { signalGroup, stopProcessGroup } from './process-group';

export interface PythonStepOptions {
  /** Module under `tuneflow_ml` (train, evaluate, summarize). */
  module: string;
  launch?: Launch;
  spec: unknown;
  specPath: string;
  /**
   * Seconds between SIGTERM and SIGKILL of the step's processes: short when a person cancels
   * (the run must be gone in seconds), longer when the worker shuts down (a deploy), so that
   * training can write a last checkpoint.
   */
  graceSeconds?: { cancel: number; workerShutdown: number };
}

/** Runs the step to its `result` event and returns that result (validated by the caller). */
export async function runPythonStep(options: PythonStepOptions): Promise<Record<string, unknown>> {
  const context = activityContext();
  await writeFile(options.specPath, JSON.stringify(options.spec, null, 2));

  const socketPath = path.join(os.tmpdir(), `tuneflow-${options.module}-${randomUUID().slice(0, 8)}.sock`);
  const connections: Promise<void>[] = [];
  const heartbeat: StepHeartbeat = { step: options.module, progress: null, checkpoint: null };
  const outputTail: string[] = [];
  let result: Record<string, unknown> | null = null;
  let failure: ApplicationFailure | null = null;

  const handleLine = (line: string) => {
    if (line.trim() === '') return;
    const parsed = StepEvent.safeParse(safeJson(line));
    if (!parsed.success) {
      failure = ApplicationFailure.create({
        type: FAILURE_TYPES.ProtocolError,
        message: `tuneflow_ml.${options.module} wrote an event that breaks the protocol (lib/python-step/protocol.ts): ${line.slice(0, 300)}`,
      });
      return;
    }
    const event = parsed.data;
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
        // The first failure is the cause: a rank's out-of-memory error, not the launcher's echo.
        failure ??= ApplicationFailure.create({
          type: failureTypeOfKind(event.kind),
          message: `tuneflow_ml.${options.module}: ${event.message}`,
          nonRetryable: !event.retryable,
        });
        break;
      default:
        break;
    }
  };
  const server = await listenForEvents(socketPath, (socket) => {
    const lines = createInterface({ input: socket });
    lines.on('line', handleLine);
    connections.push(new Promise<void>((resolve) => lines.on('close', resolve)));
  });

  const [command, ...args] = stepCommand(options.module, options.specPath, options.launch ?? { kind: 'python' });
  const child = execa(command, args, {
    cwd: REPO_ROOT,
    env: pythonEnvironment(socketPath),
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, which signalGroup and stopProcessGroup address as a whole.
    detached: true,
    reject: false,
    buffer: false,
  });

  // Done when the processes have exited and every rank's events are read. A rank that outlived
  // its launcher would hold its connection open: nothing of the step may run past this point.
  const drainEvents = async () => {
    await child;
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all(connections);
  };

  // Heartbeat on a timer too: cancellation reaches an activity only through heartbeats, and
  // model loading or a long evaluation can go minutes without an event.
  // A quarter of the heartbeat timeout, so that a slow tick never lets a live step time out.
  const tickMs = Math.min(5_000, (context?.info.heartbeatTimeoutMs || 20_000) / 4);
  context?.heartbeat(heartbeat);
  const ticker = context ? setInterval(() => context.heartbeat(heartbeat), tickMs) : null;
  const finished = Promise.all([
    drainEvents(),
    collectOutput(child.stdout, `${options.module} stdout`, outputTail),
    collectOutput(child.stderr, `${options.module} stderr`, outputTail),
    child,
  ]);
  let completed;
  try {
    if (context) {
      const cancelled = context.cancelled.then(() => null);
      const raced = await Promise.race([finished, cancelled.catch((err: unknown) => ({ cancelled: err }))]);
      if (raced && 'cancelled' in raced) {
        const grace = options.graceSeconds ?? { cancel: 5, workerShutdown: 5 };
        await stopProcessGroup(child, context.cancellationDetails?.workerShutdown ? grace.workerShutdown : grace.cancel);
        throw raced.cancelled;
      }
      completed = (raced as Awaited<typeof finished>)[3];
    } else {
      completed = (await finished)[3];
    }
  } finally {
    // Whatever ended this function (an exception included), no process of the step survives it.
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    if (ticker) clearInterval(ticker);
    server.close();
    await rm(socketPath, { force: true });
  }

  if (failure) throw failure;
  if (completed.exitCode === 0 && result) return result;
  const tail = outputTail.join('\n');
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.PythonStepCrashed,
    message:
      `tuneflow_ml.${options.module} exited with ${completed.signal ?? `code ${completed.exitCode}`} ` +
      `without ${result ? 'a clean exit' : 'a result'}; last output:\n${tail}`,
  });
}

function listenForEvents(socketPath: string, onConnection: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onConnection);
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
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

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

