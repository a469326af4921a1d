/**
 * What this host has, for tests whose expected device, bf16 and GPU-hours depend on it: the same
 * suite passes on a CPU host and on a CUDA host. Asked of the venv's torch once per test file.
 */
import { execaSync } from 'execa';
import { pythonExecutable } from '../../lib/python-step/launch';
import { detectAccelerators, type Accelerators } from '../../workers/gpu-worker';

let probe: Promise<Accelerators> | undefined;

export function hostAccelerators(): Promise<Accelerators> {
  probe ??= detectAccelerators();
  return probe;
}

/** The device name a step reports (tuneflow_ml.generation.device_name): the first GPU's, or `cpu`. */
export async function hostDevice(): Promise<string> {
  const { names } = await hostAccelerators();
  return names[0] ?? 'cpu';
}

/**
 * Whether torch sees a CUDA device, asked synchronously: jest picks `test` or `test.skip` while it
 * collects a file's tests, before any hook or async call has run.
 */
export function hostHasCuda(): boolean {
  const { stdout } = execaSync(pythonExecutable(), ['-c', 'import torch; print(torch.cuda.is_available())']);
  return stdout.trim().split('\n').pop() === 'True';
}
