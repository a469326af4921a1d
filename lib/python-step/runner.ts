/**
 * Runs one Python step (`python -m tuneflow_ml.<step> --spec spec.json`, or the same module
 * under the DeepSpeed launcher, one process per GPU) for an activity.
 *
 * Events arrive as JSON lines on a socket this side listens on (event-server.ts: a Unix socket on
 * one host, TCP when ranks run on a hostfile's nodes; the launcher closes inherited descriptors)
 * and are validated against `lib/python-step/protocol.ts`;
 * progress and checkpoints are heartbeated (so a retried attempt knows where to resume and the
 * Temporal UI shows them); an `error` event becomes an ApplicationFailure (non-retryable for
 * config, data and out-of-memory faults). If this worker dies, the socket closes and every rank
 * exits (python/tuneflow_ml/events.py), so no orphan trains beside the retry. A rank whose
 * connection closes without a word (killed, its node lost) stops the whole gang at once, and the
 * failure names the rank and its node (multi-node.ts). The processes run in their own process
 * group (process-group.ts): cancellation and worker shutdown send SIGTERM to the whole group (the
 * DeepSpeed runner then stops the ranks of every node), then SIGKILL after a grace period; closing
 * the events connections makes any rank still running exit, on whichever node it is.
 */
import * as path from 'node:path';
import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES, failureTypeOfKind } from '../failures';
import { REPO_ROOT } from '../artifacts';
import type { RankEvent, StepEvent, StepHeartbeat } from './protocol';
import { pythonEnvironment, stepCommand, type Launch } from './launch';
import { EventServer, type EventTransport } from './event-server';
import { checkShellSafe, eventsHost, failedNodes, NodeOutput, rankLostFailure, writeDeepSpeedEnvironment } from './multi-node';
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
  sidecar?: StepSidecar;
}

/** Work beside the step that follows its events (train's checkpoint uploads): in its heartbeat, and its failure stops the step. */
export interface StepSidecar {
  onEvent(event: StepEvent): void;
  heartbeat(): Partial<StepHeartbeat>;
  failure: Promise<never>;
  /** Fields it adds to the step's result, read when the step has ended. */
  result?(): Record<string, unknown>;
}

/** Runs the step to its `result` event and returns that result (validated by the caller). */
export async function runPythonStep(options: PythonStepOptions): Promise<Record<string, unknown>> {
  const context = activityContext();
  await writeFile(options.specPath, JSON.stringify(options.spec, null, 2));

  const launch = options.launch ?? { kind: 'python' };
  const multiNode = launch.kind === 'deepspeed' ? launch.multiNode : null;
  if (multiNode) checkShellSafe({ 'storage.root (the spec path)': options.specPath, 'the repository folder': REPO_ROOT });
  const socketPath = path.join(os.tmpdir(), `tuneflow-${options.module}-${randomUUID().slice(0, 8)}.sock`);
  const transport: EventTransport = multiNode
    ? { kind: 'tcp', host: await eventsHost(multiNode.masterAddr) }
    : { kind: 'unix', path: socketPath };
  const heartbeat: StepHeartbeat = { step: options.module, progress: null, checkpoint: null };
  const outputTail: string[] = [];
  const nodeOutput = new NodeOutput(multiNode?.nodes.map((node) => node.name) ?? []);
  let result: Record<string, unknown> | null = null;
  let failure: ApplicationFailure | null = null;
  let lostRank: RankEvent | null = null;
  let exited = false;

  const beat = () => context?.heartbeat({ ...heartbeat, ...options.sidecar?.heartbeat() });
  const handleEvent = (event: StepEvent) => {
    options.sidecar?.onEvent(event);
    switch (event.event) {
      case 'progress':
        heartbeat.progress = event;
        beat();
        break;
      case 'checkpoint':
        heartbeat.checkpoint = event;
        beat();
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
  let stopGang: (() => void) | null = null;
  const server = await EventServer.start(transport, {
    onEvent: handleEvent,
    onProtocolError: (line) => {
      failure = ApplicationFailure.create({
        type: FAILURE_TYPES.ProtocolError,
        message: `tuneflow_ml.${options.module} wrote an event that breaks the protocol (lib/python-step/protocol.ts): ${line.slice(0, 300)}`,
      });
    },
    // One rank gone leaves the others blocked in a collective: stop the gang now, not at the
    // timeout. Only the first fault counts: after a reported error the launcher stops the rest.
    onRankLost: (rank) => {
      if (launch.kind !== 'deepspeed' || exited || lostRank !== null || failure !== null) return;
      lostRank = rank;
      stopGang?.();
    },
  });

  const environment: Record<string, string | undefined> = {
    ...pythonEnvironment(server.address),
    TUNEFLOW_EVENTS_TOKEN: server.token ?? undefined,
  };
  if (multiNode) {
    const file = path.join(path.dirname(options.specPath), 'deepspeed_env');
    const unsafe = await writeDeepSpeedEnvironment(file, environment);
    if (unsafe.length > 0) context?.log.warn(`not forwarded to the nodes (shell characters in their values): ${unsafe.join(', ')}`);
    environment.DS_ENV_FILE = file;
  }

  const [command, ...args] = stepCommand(options.module, options.specPath, launch);
  const child = execa(command, args, {
    cwd: REPO_ROOT,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, which signalGroup and stopProcessGroup address as a whole.
    detached: true,
    reject: false,
    buffer: false,
  });
  stopGang = () => {
    void server.close();
    void stopProcessGroup(child, 3);
  };

  // Done when the processes have exited and every rank's events are read. A rank that outlived
  // its launcher would hold its connection open: nothing of the step may run past this point.
  const drainEvents = async () => {
    await child;
    exited = true;
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    // The ranks' last events (a result sent just before exiting) may still be unread: every
    // connection closes by itself once its process is gone; one that does not (a rank left on a
    // node) is closed after 5 s, which makes it exit.
    await server.drain(5_000);
  };

  // Heartbeat on a timer too: cancellation reaches an activity only through heartbeats, and
  // model loading or a long evaluation can go minutes without an event.
  // A quarter of the heartbeat timeout, so that a slow tick never lets a live step time out.
  const tickMs = Math.min(5_000, (context?.info.heartbeatTimeoutMs || 20_000) / 4);
  beat();
  const ticker = context ? setInterval(beat, tickMs) : null;
  const finished = Promise.all([
    drainEvents(),
    collectOutput(child.stdout, `${options.module} stdout`, outputTail, (line) => nodeOutput.add(line)),
    collectOutput(child.stderr, `${options.module} stderr`, outputTail, (line) => nodeOutput.add(line)),
    child,
  ]);
  let completed;
  const grace = options.graceSeconds ?? { cancel: 5, workerShutdown: 5 };
  try {
    const cancelled = context ? context.cancelled.then(() => null).catch((err: unknown) => ({ cancelled: err })) : new Promise<never>(() => undefined);
    const sidecarFailed = options.sidecar ? options.sidecar.failure.catch((err: unknown) => ({ sidecarFailed: err })) : new Promise<never>(() => undefined);
    const raced = await Promise.race([finished, cancelled, sidecarFailed]);
    if (raced && 'cancelled' in raced) {
      await stopProcessGroup(child, context?.cancellationDetails?.workerShutdown ? grace.workerShutdown : grace.cancel);
      throw raced.cancelled;
    }
    if (raced && 'sidecarFailed' in raced) {
      await stopProcessGroup(child, grace.cancel);
      throw raced.sidecarFailed;
    }
    completed = (raced as Awaited<typeof finished>)[3];
  } finally {
    // Whatever ended this function (an exception included), no process of the step survives it.
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    if (ticker) clearInterval(ticker);
    await server.close();
    await rm(socketPath, { force: true });
  }

  const stepFailure = failure as ApplicationFailure | null;
  // A rank lost first explains the errors the others reported after it (their collectives broke).
  if (lostRank && !stepFailure?.nonRetryable) throw rankLostFailure(options.module, multiNode, lostRank, { nodes: nodeOutput, tail: outputTail });
  if (stepFailure) throw stepFailure;
  if (completed.exitCode === 0 && result) return result;
  const nodes = multiNode ? failedNodes(outputTail) : [];
  const where = nodes.length > 0 ? ` (${nodes.map((n) => `${n.node}: exit code ${n.exitCode}`).join(', ')})` : '';
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.PythonStepCrashed,
    message:
      `tuneflow_ml.${options.module} exited with ${completed.signal ?? `code ${completed.exitCode}`}${where} ` +
      `without ${result ? 'a clean exit' : 'a result'}; last output${nodes[0] ? ` of ${nodes[0].node}` : ''}:\n${nodeOutput.of(nodes[0]?.node ?? null, outputTail)}`,
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
