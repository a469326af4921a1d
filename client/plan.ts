/** `tuneflow plan --config FILE`: memory per GPU and per node's host for each ZeRO choice, before a GPU is held. */
import { loadConfigFile } from '../lib/config-file';
import type { PlanResult } from '../lib/steps';
import { memoryPlan } from '../activities/plan';
import { trainingShape } from '../lib/hostfile';

export async function planCommand(options: { config: string; json?: boolean }): Promise<void> {
  const config = await loadConfigFile(options.config);
  const plan = await memoryPlan(config, { enforce: false, requireModel: false });
  console.log(options.json ? JSON.stringify(plan, null, 2) : formatPlan(plan, (await trainingShape(config.train)).nodes));
  if (!plan.chosen.fits) process.exitCode = 3;
}

/** "8 GPU(s)" on one node; "2 nodes x 8 GPU(s) (16)" for a hostfile. */
function shape(plan: PlanResult, nodes: number): string {
  return nodes === 1 ? `${plan.gpus} GPU(s)` : `${nodes} nodes x ${plan.gpus / nodes} GPU(s) (${plan.gpus})`;
}

export function formatPlan(plan: PlanResult, nodes: number): string {
  const name = (o: PlanResult['chosen']) =>
    o.stage === null
      ? 'no DeepSpeed (data parallel)'
      : `ZeRO-${o.stage}` + (o.offloadParam ? ' + offload params/optimizer' : o.offloadOptimizer ? ' + offload optimizer' : '');
  const rows = plan.options.map((o) => {
    const mark = o === plan.options.find((c) => name(c) === name(plan.chosen)) ? '*' : ' ';
    return `${mark} ${name(o).padEnd(34)} ${o.gpuGiB.toFixed(2).padStart(9)} ${o.hostGiB.toFixed(2).padStart(10)}  ${o.fits ? 'fits' : 'does not fit'}`;
  });
  return [
    `${plan.model}: ${(plan.totalParams / 1e6).toFixed(1)}M parameters, ${shape(plan, nodes)} of ${plan.gpuMemoryGiB} GiB, ` +
      `host ${plan.hostMemoryGiB} GiB per node; activations ~${plan.activationsGiBPerGpu} GiB per GPU`,
    `  ${'choice'.padEnd(34)} ${'GiB/GPU'.padStart(9)} ${'GiB/node'.padStart(10)}`,
    ...rows,
    `(* the config's choice: ${plan.chosen.fits ? 'fits' : 'DOES NOT FIT'}; model states from DeepSpeed's estimators, an upper bound for Adafactor)`,
  ].join('\n');
}
