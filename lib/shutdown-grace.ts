/**
 * How long each worker takes to stop after SIGTERM (a deploy), in one place. What the TypeScript
 * SDK (1.24, sdk-core's activity manager) does, in order:
 *
 *   1. SIGTERM: the worker stops polling; running activities go on, untouched.
 *   2. After `shutdownGraceTime` (activityGraceSeconds), activities still running are cancelled
 *      (WORKER_SHUTDOWN). The Python step runner then SIGTERMs the step's process group and
 *      SIGKILLs it after stepStopSeconds (a training finishes its step and writes a checkpoint).
 *   3. The cancelled attempts are reported as retryable `WorkerShutdown` failures (so the retry
 *      policy, not a heartbeat timeout, decides when another worker takes over), the worker
 *      drains, closes its connection and exits: exitMarginSeconds.
 *
 * The SDK forces nothing (no shutdownForceTime): the supervisor's SIGKILL (compose's
 * `stop_grace_period`) must come after all three, so it is at least their sum
 * (test/ops/compose.test.ts checks docker-compose.yml against it).
 */

export interface ShutdownBudget {
  /** The worker's `shutdownGraceTime`: an activity about to end may still report its result. */
  activityGraceSeconds: number;
  /** From the WORKER_SHUTDOWN cancel to SIGKILL of the step's processes. */
  stepStopSeconds: number;
  /** Reporting the cancelled attempts to the server, closing the connection, Node exiting. */
  exitMarginSeconds: number;
}

export const SHUTDOWN_BUDGET = {
  // Light steps: 30 s lets most of them finish; a Python step (plan, report) gets the runner's
  // default stop time (lib/python-step/runner.ts), well inside the margin.
  cpu: { activityGraceSeconds: 30, stepStopSeconds: 5, exitMarginSeconds: 10 },
  gpu: {
    // Short: waiting longer would not save a training anything (its SIGTERM checkpoint keeps
    // every step) and only delays the deploy; evaluate and summarize shards redo at most a shard.
    activityGraceSeconds: 10,
    // Finishing the step in flight and writing weights, optimizer and scheduler state of the
    // largest recipe (t5-11b under ZeRO-3 offload) to storage.root.
    stepStopSeconds: 120,
    exitMarginSeconds: 15,
  },
} as const satisfies Record<'cpu' | 'gpu', ShutdownBudget>;

/** The shortest supervisor grace (SIGTERM to SIGKILL) under which the worker stops cleanly. */
export function minimumStopGraceSeconds(budget: ShutdownBudget): number {
  return budget.activityGraceSeconds + budget.stepStopSeconds + budget.exitMarginSeconds;
}
