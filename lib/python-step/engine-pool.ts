/**
 * The generation engines of this process: one per GPU of a GPU worker (one on the CPU when it
 * has none), started with the worker (workers/gpu-worker.ts), so that shards find Python started
 * and their model loaded. An engine that exits, for whatever reason, is replaced at once (after a
 * pause when it never got ready, so a broken environment does not spin); the request it was
 * answering fails retryably. Outside a worker (the CLI, scripts, tests) the first request starts
 * one engine.
 */
import { EventEmitter } from 'node:events';
import { GenerationEngine, type EngineOptions } from './engine';
import type { EngineRequest, StepEvent } from './protocol';

/** A pause before replacing an engine that died before it was ready. */
const RESTART_PAUSE_MS = 5_000;

export interface EnginePoolOptions extends Omit<EngineOptions, 'device'> {
  /** One engine per entry: its CUDA device, or null for the process's own (the CPU on a host without GPUs). */
  devices: (number | null)[];
}

const DEFAULT_OPTIONS: Omit<EnginePoolOptions, 'devices'> = { models: 2, idleUnloadSeconds: 600 };

interface Slot {
  device: number | null;
  engine: GenerationEngine;
  busy: boolean;
}

/**
 * Events: `started` (engine) when an engine process starts, `ready` (engine, seconds) when it
 * takes requests, `event` (engine, event) for each progress or log event of a request.
 */
export class EnginePool extends EventEmitter {
  private readonly slots: Slot[];
  private readonly waiting: (() => void)[] = [];
  private closed = false;
  /** Every engine process started so far, in order (replacements included). */
  readonly started: GenerationEngine[] = [];

  constructor(private readonly options: EnginePoolOptions) {
    super();
    if (options.devices.length === 0) throw new Error('an engine pool needs at least one device');
    this.slots = options.devices.map((device) => ({ device, engine: this.startEngine(device), busy: false }));
  }

  /** The engines now serving (live or being replaced), one per device. */
  get engines(): GenerationEngine[] {
    return this.slots.map((slot) => slot.engine);
  }

  /**
   * Runs one request on a free engine (waiting for one if all are busy). When `cancelled`
   * settles first, the engine is stopped (a new one replaces it) and its failure is thrown.
   */
  async run(request: EngineRequest, what: string, onEvent: (event: StepEvent) => void, cancelled?: Promise<unknown>): Promise<Record<string, unknown>> {
    const slot = await this.acquire();
    try {
      const engine = slot.engine;
      const answer = engine.request(request, what, (event) => {
        this.emit('event', engine, event);
        onEvent(event);
      });
      if (!cancelled) return await answer;
      let cancelledFirst = false;
      const cancellation = cancelled.then(
        () => Promise.reject(new Error(`${what} was cancelled`)),
        (reason: unknown) => {
          cancelledFirst = true;
          throw reason;
        },
      );
      cancellation.catch(() => {}); // a cancellation after the answer concerns nobody
      try {
        return await Promise.race([answer, cancellation]);
      } catch (err) {
        if (cancelledFirst) {
          answer.catch(() => {}); // settled by the kill as a crash
          engine.kill();
        }
        throw err;
      }
    } finally {
      this.release(slot);
    }
  }

  /** Ends every engine and starts no more. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(); // each then finds the pool closed
    await Promise.all(this.slots.map((slot) => slot.engine.close()));
  }

  private startEngine(device: number | null): GenerationEngine {
    const engine = GenerationEngine.start({ ...this.options, device });
    this.started.push(engine);
    this.emit('started', engine);
    engine.ready.then(
      () => this.emit('ready', engine, (Date.now() - engine.startedAt) / 1000),
      () => {},
    );
    void engine.exited.then(async () => {
      if (this.closed) return;
      const everReady = await engine.ready.then(
        () => true,
        () => false,
      );
      if (!everReady) await new Promise((resolve) => setTimeout(resolve, RESTART_PAUSE_MS));
      const slot = this.slots.find((s) => s.engine === engine);
      if (slot && !this.closed) {
        slot.engine = this.startEngine(device);
        this.wake();
      }
    });
    return engine;
  }

  private async acquire(): Promise<Slot> {
    for (;;) {
      if (this.closed) throw new Error('the generation engines are closed: the worker is shutting down');
      const free = this.slots.find((slot) => !slot.busy && slot.engine.usable);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(slot: Slot): void {
    slot.busy = false;
    this.wake();
  }

  private wake(): void {
    this.waiting.shift()?.();
  }
}

let processPool: EnginePool | null = null;

/** Starts this process's engines (a GPU worker: one per GPU, or one on the CPU). */
export function startGenerationEngines(gpus: number, options: Partial<Omit<EnginePoolOptions, 'devices'>> = {}): EnginePool {
  if (processPool) throw new Error('the generation engines of this process are started already');
  const devices = gpus === 0 ? [null] : Array.from({ length: gpus }, (_, i) => i);
  processPool = new EnginePool({ ...DEFAULT_OPTIONS, ...options, devices });
  return processPool;
}

/** This process's engines: the worker's, or one started now (outside a worker). */
export function generationEngines(): EnginePool {
  processPool ??= new EnginePool({ ...DEFAULT_OPTIONS, devices: [null] });
  return processPool;
}

/** Ends this process's engines, if any (a worker that has stopped, the end of a CLI command or test). */
export async function stopGenerationEngines(): Promise<void> {
  const pool = processPool;
  processPool = null;
  await pool?.close();
}
