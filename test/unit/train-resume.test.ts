/**
 * Where a retried train attempt resumes (activities/train.ts latestCompleteCheckpoint), on real
 * folders laid out as the Python step writes them: <outputDir>/checkpoints/checkpoint-<step> and
 * the pointer <outputDir>/latest-checkpoint.json.
 */
import * as path from 'node:path';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { latestCompleteCheckpoint } from '../../activities/train';
import { InvalidDataError } from '../../lib/failures';
import { tempDir } from '../helpers/environment';

let outputDir: string;

beforeEach(async () => {
  outputDir = await tempDir('train-resume');
});
afterEach(() => rm(outputDir, { recursive: true, force: true }));

/** A checkpoint folder; `complete` writes trainer_state.json, which the Trainer writes last. */
async function checkpoint(step: number, complete: boolean): Promise<string> {
  const dir = path.join(outputDir, 'checkpoints', `checkpoint-${step}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'model.safetensors'), 'weights');
  if (complete) await writeFile(path.join(dir, 'trainer_state.json'), JSON.stringify({ global_step: step }));
  return dir;
}

const pointer = (content: string) => writeFile(path.join(outputDir, 'latest-checkpoint.json'), content);

test('no pointer and no heartbeat: train from the start', async () => {
  await checkpoint(4, true);
  expect(await latestCompleteCheckpoint(outputDir, null)).toBeNull();
});

test('a valid pointer to a complete checkpoint is used', async () => {
  const dir = await checkpoint(4, true);
  await pointer(JSON.stringify({ checkpoint: dir, globalStep: 4 }));
  expect(await latestCompleteCheckpoint(outputDir, null)).toEqual({ checkpoint: dir, globalStep: 4 });
});

test('a truncated pointer resumes from the newest complete checkpoint on disk, not from step 0', async () => {
  await checkpoint(2, true);
  const newest = await checkpoint(10, true);
  await checkpoint(12, false); // being written when the worker died
  await checkpoint(9, true);
  await pointer('{"checkpoint": "/out/checkpoints/checkpoint-1');
  expect(await latestCompleteCheckpoint(outputDir, null)).toEqual({ checkpoint: newest, globalStep: 10 });
});

test('a trainer_state.json cut short by a full disk does not make its checkpoint complete', async () => {
  const complete = await checkpoint(4, true);
  const cut = await checkpoint(6, false);
  await writeFile(path.join(cut, 'trainer_state.json'), '{"best_global_step": null, "global_st');
  await pointer('not json');
  // Neither the heartbeat that named it nor the scan of the folder resumes from it.
  expect(await latestCompleteCheckpoint(outputDir, { checkpoint: cut, globalStep: 6 })).toEqual({ checkpoint: complete, globalStep: 4 });
});

test('a pointer of the wrong shape is treated as unreadable', async () => {
  const dir = await checkpoint(6, true);
  await pointer(JSON.stringify({ path: dir }));
  expect(await latestCompleteCheckpoint(outputDir, null)).toEqual({ checkpoint: dir, globalStep: 6 });
});

test('an unreadable pointer with no complete checkpoint fails, naming the pointer and the remedy', async () => {
  await checkpoint(3, false);
  await pointer('not json');
  const file = path.join(outputDir, 'latest-checkpoint.json');
  const failure = latestCompleteCheckpoint(outputDir, null);
  await expect(failure).rejects.toThrow(InvalidDataError);
  await expect(failure).rejects.toThrow(file);
  await expect(failure).rejects.toThrow(`Delete ${file} to train from step 0`);
});
