/** `tuneflow plan --config FILE`: memory per GPU and on the host for each ZeRO choice, before a GPU is held. */
import { loadConfigFile } from '../lib/config-file';
import type { PlanResult } from '../lib/steps';
import { memoryPlan } from '../activities/plan';

export async function planCommand(options: { config: string; json?: boolean }): Promise<void> {
  const config = await loadConfigFile(options.config);
  const plan = await memoryPlan(config, { enforce: false, requireModel: false });
  console.log(options.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
  if (!plan.chosen.fits) process.exitCode = 3;
}

export function formatPlan(plan: PlanResult): string {
  const name = (o: PlanResult['chosen']) =>
    o.stage === null
      ? 'no DeepSpeed (data parallel)'
      : `ZeRO-${o.stage}` + (o.offloadParam ? ' + offload params/optimizer' : o.offloadOptimizer ? ' + offload optimizer' : '');
  const rows = plan.options.map((o) => {
    const mark = o === plan.options.find((c) => name(c) === name(plan.chosen)) ? '*' : ' ';
    return `${mark} ${name(o).padEnd(34)} ${o.gpuGiB.toFixed(2).padStart(9)} ${o.hostGiB.toFixed(2).padStart(10)}  ${o.fits ? 'fits' : 'does not fit'}`;
  });
  return [
    `${plan.model}: ${(plan.totalParams / 1e6).toFixed(1)}M parameters, ${plan.gpus} GPU(s) of ${plan.gpuMemoryGiB} GiB, ` +
      `host ${plan.hostMemoryGiB} GiB; activations ~${plan.activationsGiBPerGpu} GiB per GPU`,
    `  ${'choice'.padEnd(34)} ${'GiB/GPU'.padStart(9)} ${'GiB host'.padStart(10)}`,
    ...rows,
    `(* the config's choice: ${plan.chosen.fits ? 'fits' : 'DOES NOT FIT'}; model states from DeepSpeed's estimators, an upper bound for Adafactor)`,
  ].join('\n');
}
