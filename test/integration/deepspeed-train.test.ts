/**
 * DeepSpeed ZeRO-2 and ZeRO-3 (with parameter and optimizer offload) for real, on CPUs: the
 * train activity starts the DeepSpeed launcher with two ranks (DS_ACCELERATOR=cpu, gloo), exactly
 * the path a GPU host takes. Each stage is killed after its first checkpoint and resumed from it:
 * the DeepSpeed checkpoint (partitioned optimizer states per rank) saves and loads. Soak only
 * (`npm run soak`, TUNEFLOW_SOAK=1): in CI, ZeRO-3 is killed and resumed across two nodes through
 * the same launcher and checkpoints (multi-node-train.test.ts), and ZeRO-2 on two ranks of one host
 * trains in durable-training's cancellation case.
 */
import * as path from 'node:path';
import { readdir } from 'node:fs/promises';
import { execa } from 'execa';
import { train } from '../../activities/train';
import { parseConfig } from '../../lib/config';
import { TrainResult, type TrainInput } from '../../lib/steps';
import { MLFLOW_URI, demoFixture, splitFixture, tempDir } from '../helpers/environment';
import { waitForPointer } from '../helpers/checkpoint-pointer';

let workDir: string;
let fixture: { data: string; model: string };
let split: { trainPath: string; validationPath: string };

beforeAll(async () => {
  workDir = await tempDir('deepspeed');
  fixture = await demoFixture(workDir, 400, 10);
  split = await splitFixture(path.join(workDir, 'split'));
  process.env.DS_ACCELERATOR = 'cpu';
  process.env.TUNEFLOW_QUIET_PYTHON = '1';
});

afterAll(() => {
  delete process.env.DS_ACCELERATOR;
  delete process.env.TUNEFLOW_QUIET_PYTHON;
});

function trainInput(stage: 2 | 3): TrainInput {
  const config = parseConfig({
    name: `zero${stage}-cpu`,
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
    train: {
      epochs: 1,
      maxSteps: 24,
      perDeviceTrainBatchSize: 4,
      checkpointEverySteps: 4,
      loggingSteps: 2,
      numGpus: 2,
      deepspeed: { stage, offloadOptimizer: stage === 3, offloadParam: stage === 3 },
    },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  });
  return {
    pipelineId: `zero${stage}-${Date.now()}`,
    config,
    ...split,
  };
}

const soakOnly = process.env.TUNEFLOW_SOAK === '1' ? test : test.skip;

soakOnly.each([2, 3] as const)('ZeRO-%i on two CPU ranks: killed after a checkpoint, resumed from it', async (stage) => {
  const input = trainInput(stage);
  const trainDir = path.join(workDir, 'runs', input.pipelineId, 'train');

  // Attempt 1: SIGKILL the launcher and both ranks once the first checkpoint is complete.
  const attempt1 = train(input).then(
    () => null,
    (err: unknown) => err,
  );
  const pointer = await waitForPointer(path.join(trainDir, 'latest-checkpoint.json'), attempt1);
  await execa('pkill', ['-KILL', '-f', path.join(trainDir, 'spec.json')], { reject: false });
  // Launcher and ranks die together: named as the launcher's crash or as a lost rank, whichever is seen first.
  expect(['PythonStepCrashed', 'RankLost']).toContain((await attempt1 as { type?: string }).type);

  // The DeepSpeed checkpoint: one partition of the optimizer states per rank.
  const stateFiles = await readdir(path.join(pointer.checkpoint, `global_step${pointer.globalStep}`));
  expect(stateFiles.filter((f) => f.endsWith('optim_states.pt'))).toHaveLength(2);

  // Attempt 2 (a retry): resumes from the pointer, continues the step count to the planned total.
  const result = TrainResult.parse(await train(input));
  expect(result.resumedFrom).not.toBeNull();
  const resumedStep = Number(/checkpoint-(\d+)$/.exec(result.resumedFrom!)![1]);
  expect(resumedStep).toBeGreaterThanOrEqual(pointer.globalStep);
  expect(result.globalStep).toBe(24);
  // The consolidated model loads without DeepSpeed (ZeRO-3 gathers its 16-bit weights on save).
  expect(await readdir(result.modelDir)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors']));
});
