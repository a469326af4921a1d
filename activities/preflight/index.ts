/**
 * preflight: every check a pipeline can make before it holds a GPU, on a CPU worker, all run
 * together and all reported together, so a person fixes every problem of a config in one go.
 *
 *   input (clean's probe) · model (config loads, memory plan fits, a zeroShot floor is scored)
 *   · mlflow (answers, experiment) · storage (writable, room for the checkpoints)
 *   · gpuWorkers (some GPU worker can run it)
 *
 * A failed check that a retry cannot fix is final; the step fails as its type (or
 * `PreflightFailed` for several types), listing every failed check with its advice.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES, InvalidConfigError, InvalidDataError } from '../../lib/failures';
import { StepInput, type PreflightCheck, type PreflightCheckName, type PreflightResult } from '../../lib/steps';
import { checkGpuWorkers } from './gpu-workers';
import { checkInput } from './input';
import { checkMlflow } from './mlflow';
import { checkModel } from './model';
import { checkStorage } from './storage';
import { checkZeroShotFloor } from './zero-shot-floor';

type Outcome = { state: 'passed' | 'skipped'; detail: string };

export async function preflight(rawInput: StepInput): Promise<PreflightResult> {
  const { config } = StepInput.parse(rawInput);
  const context = Context.current();
  const heartbeat = () => context.heartbeat({ step: 'preflight' });
  const ticker = setInterval(heartbeat, 5_000);
  try {
    const planned = checkModel(config);
    // Storage sizes the checkpoints from the plan; without one (the model check failed) it checks writing only.
    const plan = planned.then(({ plan }) => plan, () => null);
    const checks = await Promise.all([
      timed('input', async () => passed(await checkInput(config))),
      timed('model', async () => {
        checkZeroShotFloor(config);
        return passed((await planned).detail);
      }),
      timed('mlflow', async () => passed(await checkMlflow(config, heartbeat))),
      timed('storage', async () => passed(await checkStorage(config, plan))),
      timed('gpuWorkers', () => checkGpuWorkers(config)),
    ]);
    const failed = checks.filter((check) => check.state === 'failed');
    if (failed.length > 0) throw preflightFailure(failed);
    return { checks, plan: (await plan)! };
  } finally {
    clearInterval(ticker);
  }
}

const passed = (detail: string): Outcome => ({ state: 'passed', detail });

async function timed(name: PreflightCheckName, run: () => Promise<Outcome>): Promise<PreflightCheck> {
  const startedAt = Date.now();
  try {
    return { name, ...(await run()), failureType: null, final: true, durationMs: Date.now() - startedAt };
  } catch (error) {
    return { name, state: 'failed', ...classify(error), durationMs: Date.now() - startedAt };
  }
}

/** A failed check's type, message and finality, from the error its check threw. */
function classify(error: unknown): Pick<PreflightCheck, 'detail' | 'failureType' | 'final'> {
  if (error instanceof InvalidDataError) return { detail: error.message, failureType: FAILURE_TYPES.InvalidData, final: true };
  if (error instanceof InvalidConfigError) return { detail: error.message, failureType: FAILURE_TYPES.InvalidConfig, final: true };
  if (error instanceof ApplicationFailure) return { detail: error.message, failureType: error.type ?? 'Error', final: error.nonRetryable ?? false };
  const err = error instanceof Error ? error : new Error(String(error));
  return { detail: err.message, failureType: err.name, final: false };
}

function preflightFailure(failed: PreflightCheck[]): ApplicationFailure {
  const types = [...new Set(failed.map((check) => check.failureType))];
  const lines = failed.map((check) => `- ${check.name}: ${check.detail}`);
  const message =
    failed.length === 1
      ? `${failed[0].name} check failed before anything was started: ${failed[0].detail}`
      : `${failed.length} checks failed before anything was started:\n${lines.join('\n')}`;
  return ApplicationFailure.create({
    type: types.length === 1 ? (types[0] ?? 'Error') : FAILURE_TYPES.PreflightFailed,
    message,
    // A worker fault in any check may pass on retry; the rest would fail the same way.
    nonRetryable: failed.every((check) => check.final),
    details: [failed],
  });
}
