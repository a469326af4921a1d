/**
 * storage.root refusing writes in the middle of training, on real mounts, with the real train
 * activity and Python step on the tiny T5 (each call is one attempt, as a retry makes it):
 * - read-only (a bind mount of the folder onto itself, remounted read-only) after the first
 *   checkpoint: the attempt fails as StorageUnwritable naming the path, so does a retry while it
 *   stays read-only; once writable, the retry resumes from the last complete checkpoint.
 * - full (a tmpfs two and a half checkpoints big) while the third checkpoint is written: the
 *   partial checkpoint stays out of the pointer, and the retry (after space is freed) resumes from
 *   the last complete one, never from the partial one.
 * Mounting needs root with CAP_SYS_ADMIN; where it is not permitted the tests are skipped and
 * their names say why.
 */
import * as path from 'node:path';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { execa, execaSync } from 'execa';
import { ApplicationFailure } from '@temporalio/common';
import { train } from '../../activities/train';
import { parseConfig } from '../../lib/config';
import { ensureStepDir } from '../../lib/artifacts';
import { describeFailure } from '../../lib/failure-cause';
import { storageFault } from '../../lib/storage-fault';
import { TrainResult, type TrainInput } from '../../lib/steps';
import { MLFLOW_URI, demoFixture, splitFixture, tempDir } from '../helpers/environment';

/** Why this host cannot mount (null when it can): a tmpfs mounted and unmounted on a scratch folder. */
function mountProblem(): string | null {
  const probe = execaSync('mktemp', ['-d']).stdout;
  const mounted = execaSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { reject: false });
  if (mounted.exitCode !== 0) return `mount is not permitted here (${mounted.stderr.trim() || `exit ${mounted.exitCode}`}); it needs root with CAP_SYS_ADMIN`;
  execaSync('umount', [probe]);
  return null;
}

const problem = mountProblem();
const mountTest = problem === null ? test : test.skip;
const skipped = problem === null ? '' : ` (skipped: ${problem})`;

let workDir: string;
let fixture: { data: string; model: string };
let split: { trainPath: string; validationPath: string };
const mounts: string[] = [];

beforeAll(async () => {
  workDir = await tempDir('storage-faults');
  fixture = await demoFixture(workDir, 400, 10);
  split = await splitFixture(path.join(workDir, 'split'));
  process.env.TUNEFLOW_QUIET_PYTHON = '1';
});

afterAll(async () => {
  delete process.env.TUNEFLOW_QUIET_PYTHON;
  for (const dir of mounts.reverse()) await execa('umount', ['-l', dir], { reject: false });
});

async function mount(args: string[], dir: string): Promise<void> {
  await execa('mount', [...args, dir]);
  if (!mounts.includes(dir)) mounts.push(dir);
}

function trainInput(root: string, train: { maxSteps: number; checkpointEverySteps: number }): TrainInput {
  const config = parseConfig({
    name: 'storage-faults',
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
    train: { epochs: 1, perDeviceTrainBatchSize: 4, loggingSteps: 2, keepCheckpoints: 2, ...train },
    storage: { root },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  });
  return { pipelineId: `storage-${path.basename(root)}-${Date.now()}`, config, ...split };
}

type Pointer = { checkpoint: string; globalStep: number };

async function readPointer(trainDir: string): Promise<Pointer | null> {
  try {
    return JSON.parse(await readFile(path.join(trainDir, 'latest-checkpoint.json'), 'utf8')) as Pointer;
  } catch {
    return null;
  }
}

/** Complete as activities/train.ts decides it: trainer_state.json parses and names a step. */
async function isComplete(checkpoint: string): Promise<boolean> {
  try {
    const state = JSON.parse(await readFile(path.join(checkpoint, 'trainer_state.json'), 'utf8')) as { global_step?: unknown };
    return typeof state.global_step === 'number';
  } catch {
    return false;
  }
}

/** The attempt's failure (it must fail). */
async function failureOf(attempt: Promise<unknown>): Promise<Error> {
  return attempt.then(
    () => {
      throw new Error('the attempt succeeded; it should have failed on the storage');
    },
    (err: unknown) => err as Error,
  );
}

mountTest(`storage.root read-only during training: StorageUnwritable naming the path; writable again, the retry resumes${skipped}`, async () => {
  const root = path.join(workDir, 'read-only-root');
  await mkdir(root, { recursive: true });
  await mount(['--bind', root], root);
  const input = trainInput(root, { maxSteps: 30, checkpointEverySteps: 10 });
  const trainDir = path.join(root, input.pipelineId, 'train');

  const attempt1 = failureOf(train(input));
  let pointer: Pointer | null = null;
  while (pointer === null) {
    pointer = await readPointer(trainDir);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await mount(['-o', 'remount,bind,ro'], root);

  // The next write (a checkpoint, or the model) is refused: a retryable failure that says where,
  // why, what to do, and which complete checkpoint a retry resumes from.
  const first = await attempt1;
  expect(first).toBeInstanceOf(ApplicationFailure);
  expect([(first as ApplicationFailure).type, (first as ApplicationFailure).nonRetryable]).toEqual(['StorageUnwritable', false]);
  const cause = describeFailure(first, 'train');
  expect(cause).toMatch(new RegExp(`^StorageUnwritable in train: tuneflow_ml\\.train: train cannot write ${trainDir}/\\S+ .*read-only \\(EROFS\\)`));
  expect(cause).toContain('remount it read-write');
  expect(cause).toContain(`latest-checkpoint.json still names ${pointer.checkpoint}`);
  const atFailure = (await readPointer(trainDir))!;
  expect(await isComplete(atFailure.checkpoint)).toBe(true);

  // A retry while it is still read-only fails before Python starts, on the step's spec file.
  const second = await failureOf(train(input));
  const typed = storageFault(second);
  expect(typed?.type).toBe('StorageUnwritable');
  expect(typed?.message).toBe(
    `cannot write ${path.join(trainDir, 'spec.json')}: the file system is read-only (EROFS). Make it writable again (remount it read-write) ` +
      'or point storage.root at a writable volume: the step is retried by itself and goes on once the storage is writable.',
  );
  // A step whose folder is still to be made says so too (Node's recursive mkdir alone would say ENOENT).
  const evaluateDir = path.join(root, input.pipelineId, 'evaluate');
  const unmade = await failureOf(ensureStepDir(input.config, input.pipelineId, 'evaluate'));
  expect(storageFault(unmade)?.message).toMatch(new RegExp(`^cannot write ${evaluateDir}: the file system is read-only \\(EROFS\\)`));

  await mount(['-o', 'remount,bind,rw'], root);
  const result = TrainResult.parse(await train(input));
  expect(result.resumedFrom).toBe(atFailure.checkpoint);
  expect(result.globalStep).toBe(30);
});

mountTest(`the disk filling up during a checkpoint: the partial checkpoint is never resumed from${skipped}`, async () => {
  const root = path.join(workDir, 'full-root');
  await mkdir(root, { recursive: true });
  // Room for two checkpoints (keepCheckpoints) and half of the third: a checkpoint is the model's
  // weights plus Adafactor's small state, the tokenizer and the trainer's files.
  const modelBytes = (await stat(path.join(fixture.model, 'model.safetensors'))).size;
  await mount(['-t', 'tmpfs', '-o', `size=${Math.round((modelBytes * 2.8) / 1024)}k`, 'tmpfs'], root);
  const input = trainInput(root, { maxSteps: 8, checkpointEverySteps: 2 });
  const trainDir = path.join(root, input.pipelineId, 'train');
  const checkpoints = path.join(trainDir, 'checkpoints');

  const first = await failureOf(train(input));
  expect((first as ApplicationFailure).type).toBe('StorageUnwritable');
  const pointer = (await readPointer(trainDir))!;
  expect(await isComplete(pointer.checkpoint)).toBe(true);
  const partial = [];
  for (const name of await readdir(checkpoints)) {
    if (!(await isComplete(path.join(checkpoints, name)))) partial.push(path.join(checkpoints, name));
  }
  expect(partial).toEqual([path.join(checkpoints, `checkpoint-${pointer.globalStep + 2}`)]);
  const cause = describeFailure(first, 'train');
  expect(cause).toContain('no space is left on the device (ENOSPC)');
  expect(cause).toMatch(/MiB free of \d+\.\d MiB/);
  expect(cause).toContain(`${partial[0]} is incomplete and is never resumed from`);
  expect(cause).toContain(`latest-checkpoint.json still names ${pointer.checkpoint}`);
  // No half-written pointer beside the old one.
  expect((await readdir(trainDir)).filter((name) => name.startsWith('latest-checkpoint.json.tmp'))).toEqual([]);

  // Space freed: the retry resumes from the pointer's checkpoint and trains to the planned total.
  await mount(['-o', 'remount,size=64m'], root);
  const result = TrainResult.parse(await train(input));
  expect(result.resumedFrom).toBe(pointer.checkpoint);
  expect(result.globalStep).toBe(8);
});
