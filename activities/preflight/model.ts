/**
 * The `model` check: model.nameOrPath's config loads on this host as training will load it, and
 * the memory plan of the training config fits the declared GPUs and host memory.
 */
import type { PipelineConfig } from '../../lib/config';
import type { PlanResult } from '../../lib/steps';
import { memoryPlan } from '../plan';

export async function checkModel(config: PipelineConfig): Promise<{ plan: PlanResult; detail: string }> {
  const plan = await memoryPlan(config, { enforce: true, requireModel: true });
  const { chosen } = plan;
  const zero = chosen.stage === null ? 'no DeepSpeed' : `ZeRO-${chosen.stage}`;
  return {
    plan,
    detail:
      `${plan.model}: ${(plan.totalParams / 1e6).toFixed(1)}M parameters; ${zero} needs about ${chosen.gpuGiB} GiB ` +
      `per GPU of ${plan.gpuMemoryGiB} and ${chosen.hostGiB} GiB of host memory of ${plan.hostMemoryGiB}`,
  };
}
