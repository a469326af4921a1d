/**
 * plan: per-GPU and host memory of a training config under each ZeRO stage and offload choice
 * (`python -m tuneflow_ml.plan`, DeepSpeed's estimators). The pipeline runs it on a CPU worker
 * before training, so a config that cannot fit fails before a GPU is held; `tuneflow plan`
 * prints the same table.
 */
import { PlanResult, StepInput, type PlanSpec } from '../lib/steps';
import type { PipelineConfig } from '../lib/config';
import { hostfileNodes } from '../lib/hostfile';
import { runStepInTempDir } from '../lib/python-step';

export async function planTraining(rawInput: StepInput): Promise<PlanResult> {
  const input = StepInput.parse(rawInput);
  return memoryPlan(input.config, true);
}

/** The plan of `config`; with `enforce`, a config that does not fit is an InvalidConfig failure. */
export async function memoryPlan(config: PipelineConfig, enforce: boolean): Promise<PlanResult> {
  const spec: PlanSpec = { config, nodes: await hostfileNodes(config.train.hostfile), enforce };
  return runStepInTempDir('plan', spec, PlanResult);
}
