/**
 * plan: per-GPU and host memory of a training config under each ZeRO stage and offload choice
 * (`python -m tuneflow_ml.plan`, DeepSpeed's estimators), per GPU and per node for the hostfile's
 * shape (nodes x slots). The preflight step runs it on a CPU
 * worker, so a config that cannot fit (or a model that cannot load) fails before a GPU is held;
 * `tuneflow plan` prints the same table.
 */
import { PlanResult, type PlanSpec } from '../lib/steps';
import type { PipelineConfig } from '../lib/config';
import { trainingShape } from '../lib/hostfile';
import { runStepInTempDir } from '../lib/python-step';

/** The plan of `config`; `checks` say which findings are InvalidConfig failures (PlanSpec). */
export async function memoryPlan(config: PipelineConfig, checks: Pick<PlanSpec, 'enforce' | 'requireModel'>): Promise<PlanResult> {
  const spec: PlanSpec = { config, ...(await trainingShape(config.train)), ...checks };
  return runStepInTempDir('plan', spec, PlanResult);
}
