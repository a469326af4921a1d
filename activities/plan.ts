/**
 * plan: per-GPU and host memory of a training config under each ZeRO stage and offload choice
 * (`python -m tuneflow_ml.plan`, DeepSpeed's estimators). The pipeline runs it on a CPU worker
 * before training, so a config that cannot fit fails before a GPU is held; `tuneflow plan`
 * prints the same table.
 */
import * as path from 'node:path';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { PlanResult, StepInput, type PlanSpec } from '../lib/steps';
import type { PipelineConfig } from '../lib/config';
import { InvalidConfigError } from '../lib/failures';
import { resolveFromRepo } from '../lib/artifacts';
import { runPythonStep } from '../lib/python-step/runner';

export async function planTraining(rawInput: StepInput): Promise<PlanResult> {
  const input = StepInput.parse(rawInput);
  return memoryPlan(input.config, true);
}

/** The plan of `config`; with `enforce`, a config that does not fit is an InvalidConfig failure. */
export async function memoryPlan(config: PipelineConfig, enforce: boolean): Promise<PlanResult> {
  const spec: PlanSpec = { config, nodes: await hostfileNodes(config.train.hostfile), enforce };
  const dir = await mkdtemp(path.join(tmpdir(), 'tuneflow-plan-'));
  try {
    return PlanResult.parse(await runPythonStep({ module: 'plan', spec, specPath: path.join(dir, 'spec.json') }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** DeepSpeed hostfile: one `hostname slots=N` line per node; comments and blank lines aside. */
export async function hostfileNodes(hostfile: string | null): Promise<number> {
  if (hostfile === null) return 1;
  let text: string;
  try {
    text = await readFile(resolveFromRepo(hostfile), 'utf8');
  } catch (err) {
    throw new InvalidConfigError(
      'train.hostfile',
      `${hostfile} cannot be read (${(err as NodeJS.ErrnoException).code}); give a DeepSpeed hostfile with one ` +
        '"hostname slots=N" line per node',
    );
  }
  const nodes = text.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#')).length;
  if (nodes === 0) throw new InvalidConfigError('train.hostfile', `${hostfile} names no host; add "hostname slots=N" lines`);
  return nodes;
}
