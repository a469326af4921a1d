/** The memory plan (DeepSpeed's estimators, real Python) of the seed's recipes, and its refusal. */
import * as path from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfigFile } from '../../lib/config-file';
import { parseConfig } from '../../lib/config';
import { REPO_ROOT } from '../../lib/artifacts';
import { memoryPlan } from '../../activities/plan';
import { formatPlan } from '../../client/plan';

const recipe = (file: string) => loadConfigFile(path.join(REPO_ROOT, 'configs', file));

beforeAll(() => {
  process.env.TUNEFLOW_QUIET_PYTHON = '1';
});
afterAll(() => {
  delete process.env.TUNEFLOW_QUIET_PYTHON;
});

test('t5-11b fits 8 GPUs of 24 GB only with ZeRO-3 and offload, as the seed found', async () => {
  const plan = await memoryPlan(await recipe('t5-11b-zero3-offload.yaml'), { enforce: true, requireModel: false });
  expect(plan.totalParams).toBeGreaterThan(11e9);
  expect(plan.chosen).toEqual(expect.objectContaining({ stage: 3, offloadParam: true, fits: true }));
  const fits = (stage: number | null, offloadOptimizer: boolean) =>
    plan.options.find((o) => o.stage === stage && o.offloadOptimizer === offloadOptimizer && !o.offloadParam)!.fits;
  expect(fits(null, false)).toBe(false);
  expect(fits(2, false)).toBe(false);
  expect(fits(3, false)).toBe(false);
  // Offloading moves model states from the GPUs to the host.
  const offloaded = plan.options.find((o) => o.stage === 3 && o.offloadParam)!;
  const onGpu = plan.options.find((o) => o.stage === 3 && !o.offloadOptimizer)!;
  expect(offloaded.gpuGiB).toBeLessThan(onGpu.gpuGiB);
  expect(offloaded.hostGiB).toBeGreaterThan(onGpu.hostGiB);
});

test('a config that cannot fit is refused before training, with the numbers and what would fit', async () => {
  const config = await recipe('t5-11b-zero3-offload.yaml');
  const tooBig = parseConfig({ ...config, train: { ...config.train, deepspeed: { stage: 2 } } });
  const error = await memoryPlan(tooBig, { enforce: true, requireModel: false }).then(
    () => null,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  const failure = error as ApplicationFailure;
  expect(failure.type).toBe('InvalidConfig');
  expect(failure.nonRetryable).toBe(true);
  expect(failure.message).toMatch(/needs about [\d.]+ GiB per GPU/);
  expect(failure.message).toContain('train.gpuMemoryGiB 24');
  expect(failure.message).toContain('ZeRO-3 + offload optimizer/params');
});

test("a hostfile's shape sizes per GPU and per node: two 8-GPU nodes halve each GPU's ZeRO-3 states", async () => {
  const config = await recipe('t5-11b-zero3-offload.yaml');
  const hostfile = path.join(await mkdtemp(path.join(tmpdir(), 'tuneflow-plan-')), 'hostfile');
  await writeFile(hostfile, '# two nodes of 8 GPUs\nnode-a slots=8\nnode-b slots=8\n');
  const oneNode = await memoryPlan(parseConfig({ ...config, train: { ...config.train, numGpus: 8 } }), { enforce: false, requireModel: false });
  const twoNodes = await memoryPlan(parseConfig({ ...config, train: { ...config.train, hostfile } }), { enforce: false, requireModel: false });
  expect(twoNodes.gpus).toBe(16);
  const zero3 = (plan: typeof oneNode) => plan.options.find((o) => o.stage === 3 && !o.offloadOptimizer)!;
  expect(zero3(twoNodes).gpuGiB).toBeLessThan(zero3(oneNode).gpuGiB);
  expect(formatPlan(twoNodes, 2)).toContain('2 nodes x 8 GPU(s) (16)');

  await writeFile(hostfile, 'node-a slots=8\nnode-b slots=4\n');
  await expect(memoryPlan(parseConfig({ ...config, train: { ...config.train, hostfile } }), { enforce: false, requireModel: false })).rejects.toThrow(
    /gives node-a 8 slots but node-b 4/,
  );
});
