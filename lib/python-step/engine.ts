/**
 * One generation engine: a long-lived `python -m tuneflow_ml.engine` process (its own process
 * group) and the socket it talks on. Requests go one at a time; each resolves with its `result`
 * event or rejects with its `error` event as an ApplicationFailure (non-retryable for config,
 * data and out-of-memory faults), or with a retryable `PythonStepCrashed` when the process dies
 * on it. engine-pool.ts keeps one per GPU and replaces one that died.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { ApplicationFailure } from '@temporalio/common';
import { REPO_ROOT } from '../artifacts';
import { FAILURE_TYPES, failureTypeOfKind } from '../failures';
import { pythonEnvironment, pythonExecutable } from './launch';
import { collectOutput } from './output';
import { signalGroup } from './process-group';
import { StepEvent, type EngineRequest, type ReadyEvent } from './protocol';
import { jsonOrNull } from '../json';

export interface EngineOptions {
  /** The CUDA device this engine owns (CUDA_VISIBLE_DEVICES), or null to leave the devices as they are. */
  device: number | null;
  /** Models kept loaded, the most recently used. */
  models: number;
  /** Seconds without a request after which the engine drops its models (GPU memory back to a training). */
  idleUnloadSeconds: number;
}

interface Pending {
  what: string;
  onEvent: (event: StepEvent) => void;
  resolve: (result: Record<string, unknown>) => void;
  reject: (failure: Error) => void;
}

export class GenerationEngine {
  /** When the engine said `ready`: its libraries imported, taking requests. */
  readonly ready: Promise<ReadyEvent>;
  /** When the process has exited (for whatever reason): its exit code or signal, as words. */
  readonly exited: Promise<string>;
  readonly startedAt = Date.now();
  private pending: Pending | null = null;
  private socket: Socket | null = null;
  private readonly outputTail: string[] = [];
  private exitedAs: string | null = null;
  private isReady = false;
  private killed = false;

  private constructor(
    private readonly child: ResultPromise,
    private readonly server: Server,
    socketPath: string,
  ) {
    // An idle engine keeps no process alive (a CLI command, a test file ends; the engine then
    // sees its socket close and exits): only a pending request holds the event loop.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    server.unref();
    let markReady: (event: ReadyEvent) => void = () => {};
    let failReady: (error: Error) => void = () => {};
    this.ready = new Promise<ReadyEvent>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => {}); // a waiting request sees the same failure
    server.on('connection', (socket) => {
      this.socket = socket;
      if (!this.pending) socket.unref();
      socket.on('error', () => {}); // a write to a dying engine: its exit tells the request
      const lines = createInterface({ input: socket });
      lines.on('line', (line) => this.handleLine(line, markReady));
    });
    const output = Promise.all([
      collectOutput(child.stdout, `engine ${child.pid} stdout`, this.outputTail),
      collectOutput(child.stderr, `engine ${child.pid} stderr`, this.outputTail),
    ]);
    this.exited = (async () => {
      const result = await child;
      await output;
      this.exitedAs = result.signal ?? `exit code ${result.exitCode}`;
      server.close();
      await rm(socketPath, { force: true });
      const crash = this.crash();
      failReady(crash);
      this.pending?.reject(crash);
      this.pending = null;
      return this.exitedAs;
    })();
  }

  static start(options: EngineOptions): GenerationEngine {
    const socketPath = path.join(os.tmpdir(), `tuneflow-engine-${randomUUID().slice(0, 8)}.sock`);
    // A Unix socket is bound and listening when listen() returns: the engine, seconds from
    // connecting, always finds it. A failure to listen leaves the engine unconnected: it exits.
    const server = createServer();
    server.on('error', (err) => process.stderr.write(`generation engine socket ${socketPath}: ${err.message}\n`));
    server.listen(socketPath);
    const args = ['-m', 'tuneflow_ml.engine', '--models', String(options.models), '--idle-unload-seconds', String(options.idleUnloadSeconds)];
    const child = execa(pythonExecutable(), args, {
      cwd: REPO_ROOT,
      env: { ...pythonEnvironment(socketPath), ...(options.device === null ? {} : { CUDA_VISIBLE_DEVICES: String(options.device) }) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: one signal stops it and anything it started.
      detached: true,
      reject: false,
      buffer: false,
    });
    return new GenerationEngine(child, server, socketPath);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  get alive(): boolean {
    return this.exitedAs === null;
  }

  /** Alive and not being stopped: a request sent now can be answered. */
  get usable(): boolean {
    return this.alive && !this.killed;
  }

  /**
   * Sends one request (`what` names it in failures: `shard products-00003`) and waits for its
   * answer; `onEvent` gets its progress and log events.
   */
  async request(request: EngineRequest, what: string, onEvent: (event: StepEvent) => void): Promise<Record<string, unknown>> {
    if (this.pending) throw new Error(`engine ${this.pid} is busy with ${this.pending.what}; this is a bug in lib/python-step/engine-pool.ts`);
    this.holdEventLoop(true);
    try {
      await this.ready;
      if (!this.alive) throw this.crash();
      return await new Promise<Record<string, unknown>>((resolve, reject) => {
        this.pending = { what, onEvent, resolve, reject };
        this.socket!.write(`${JSON.stringify(request)}\n`);
      });
    } finally {
      this.holdEventLoop(false);
    }
  }

  private holdEventLoop(hold: boolean): void {
    for (const handle of [this.server, this.socket]) {
      if (hold) handle?.ref();
      else handle?.unref();
    }
  }

  /** Stops the process group at once (a crash, as far as a pending request is concerned). */
  kill(): void {
    this.killed = true;
    if (this.child.pid !== undefined && this.alive) signalGroup(this.child.pid, 'SIGKILL');
  }

  /** Ends the engine: closing its socket makes it exit (events.py); SIGKILL after `graceMs`. */
  async close(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    this.socket?.end();
    if (this.socket === null && this.child.pid !== undefined) signalGroup(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private handleLine(line: string, markReady: (event: ReadyEvent) => void): void {
    if (line.trim() === '') return;
    const parsed = StepEvent.safeParse(jsonOrNull(line));
    const pending = this.pending;
    if (!parsed.success) {
      pending?.reject(
        ApplicationFailure.create({
          type: FAILURE_TYPES.ProtocolError,
          message: `the generation engine (pid ${this.pid}) wrote an event that breaks the protocol (lib/python-step/protocol.ts): ${line.slice(0, 300)}`,
        }),
      );
      this.pending = null;
      this.kill(); // its state is unknown: a new engine replaces it
      return;
    }
    const event = parsed.data;
    if (event.event === 'ready') {
      this.isReady = true;
      markReady(event);
      return;
    }
    if (!pending) return; // a log line between requests
    if (event.event === 'result') {
      this.pending = null;
      pending.resolve(event.result);
    } else if (event.event === 'error') {
      this.pending = null;
      pending.reject(
        ApplicationFailure.create({
          type: failureTypeOfKind(event.kind),
          message: `the generation engine (pid ${this.pid}) on ${pending.what}: ${event.message}`,
          nonRetryable: !event.retryable,
        }),
      );
    } else {
      pending.onEvent(event);
    }
  }

  private crash(): ApplicationFailure {
    const during = this.pending ? ` during ${this.pending.what}` : this.isReady ? ' between requests' : ' before it was ready';
    return ApplicationFailure.create({
      type: FAILURE_TYPES.PythonStepCrashed,
      message:
        `the generation engine (pid ${this.pid}) exited with ${this.exitedAs}${during}; the worker starts a new engine ` +
        `and the activity is retried; last output:\n${this.outputTail.join('\n')}`,
    });
  }
}
