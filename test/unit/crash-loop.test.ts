/** train's crash-loop bound (lib/crash-loop.ts): identical step failures end it, infrastructure faults never do. */
import * as path from 'node:path';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { failureFingerprint, recordAttemptFailure } from '../../lib/crash-loop';

const crash = (pid: number) =>
  ApplicationFailure.create({
    type: 'PythonStepCrashed',
    message: `tuneflow_ml.train exited with code 1 (node-b: exit code 1) without a result; last output:\nnode-b: [pid ${pid}] ValueError: bad shard 0x7f3a at step ${pid % 7}`,
  });
const lostRank = ApplicationFailure.create({ type: 'RankLost', message: 'tuneflow_ml.train: rank 1 (pid 4242) on node-b stopped without reporting an error' });

test('the same crash with other pids and addresses has one fingerprint; another error has its own', () => {
  expect(failureFingerprint(crash(101))).toBe(failureFingerprint(crash(2024)));
  const other = ApplicationFailure.create({ type: 'PythonStepCrashed', message: 'tuneflow_ml.train exited with code 1\nKeyError: summary' });
  expect(failureFingerprint(other)).not.toBe(failureFingerprint(crash(101)));
});

test('three identical crashes in a row end train with CrashLoop, naming the error; a lost rank between them resets the count', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tuneflow-crash-loop-'));
  expect(await recordAttemptFailure(dir, 'train', crash(1), 3)).toEqual(expect.objectContaining({ type: 'PythonStepCrashed' }));
  expect(await recordAttemptFailure(dir, 'train', crash(2), 3)).toEqual(expect.objectContaining({ type: 'PythonStepCrashed' }));
  // An infrastructure fault between them: retried as ever, and the streak starts again.
  expect(await recordAttemptFailure(dir, 'train', lostRank, 3)).toBe(lostRank);
  expect(await recordAttemptFailure(dir, 'train', crash(3), 3)).toEqual(expect.objectContaining({ type: 'PythonStepCrashed' }));
  expect(await recordAttemptFailure(dir, 'train', crash(4), 3)).toEqual(expect.objectContaining({ type: 'PythonStepCrashed' }));
  const final = (await recordAttemptFailure(dir, 'train', crash(5), 3)) as ApplicationFailure;
  expect(final.type).toBe('CrashLoop');
  expect(final.nonRetryable).toBe(true);
  expect(final.message).toContain('train failed the same way 3 attempts in a row');
  expect(final.message).toContain('node-b: [pid 5] ValueError: bad shard'); // the failing rank's last lines
  expect((await readFile(path.join(dir, 'attempt-failures.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(6);
});

test('final failures and cancellations pass through unrecorded', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tuneflow-crash-loop-'));
  const oom = ApplicationFailure.create({ type: 'OutOfMemory', message: 'out of memory', nonRetryable: true });
  const cancelled = new Error('cancelled');
  expect(await recordAttemptFailure(dir, 'train', oom, 1)).toBe(oom);
  expect(await recordAttemptFailure(dir, 'train', cancelled, 1)).toBe(cancelled);
  await expect(readFile(path.join(dir, 'attempt-failures.jsonl'), 'utf8')).rejects.toThrow(/ENOENT/);
});
