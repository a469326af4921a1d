/**
 * The preflight's model check refuses register.mustBeat zeroShot where evaluate scores no
 * zero-shot (activities/preflight/zero-shot-floor.ts): a random-weights base model, or
 * evaluate.zeroShot false. The marker file is the one python/tuneflow_ml/tiny_model.py writes.
 */
import * as path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { checkZeroShotFloor, RANDOM_WEIGHTS_MARKER } from '../../activities/preflight/zero-shot-floor';
import { REPO_ROOT } from '../../lib/artifacts';
import { parseConfig } from '../../lib/config';
import { InvalidConfigError } from '../../lib/failures';
import { pythonExecutable } from '../../lib/python-step';

let dir: string;
/** A model folder as tuneflow_ml.tiny_model leaves it: with the marker. */
let randomWeights: string;
/** A model folder without it, as a pretrained model's. */
let pretrained: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tuneflow-zero-shot-floor-'));
  randomWeights = path.join(dir, 'tiny-t5');
  pretrained = path.join(dir, 'pretrained');
  mkdirSync(randomWeights);
  mkdirSync(pretrained);
  writeFileSync(path.join(randomWeights, RANDOM_WEIGHTS_MARKER), '{}');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (nameOrPath: string, mustBeat: 'best' | 'zeroShot', zeroShot = true) =>
  parseConfig({ model: { nameOrPath }, evaluate: { zeroShot }, register: { mustBeat } });

test('mustBeat zeroShot with a random-weights base model: InvalidConfig, saying why and what to choose', () => {
  const check = () => checkZeroShotFloor(config(randomWeights, 'zeroShot'));
  expect(check).toThrow(InvalidConfigError);
  expect(check).toThrow(/^invalid config register\.mustBeat:\nregister\.mustBeat is zeroShot, but zero-shot is not scored for this config: /);
  expect(check).toThrow(`model.nameOrPath ${randomWeights} has random weights`);
  expect(check).toThrow(/Choose register\.mustBeat best \(the strongest baseline scored\), lead or common instead/);
});

test('mustBeat zeroShot with evaluate.zeroShot false: InvalidConfig', () => {
  expect(() => checkZeroShotFloor(config(pretrained, 'zeroShot', false))).toThrow(/not scored for this config: evaluate\.zeroShot is false\. Choose/);
});

test('zero-shot scored, or another floor: nothing to refuse', () => {
  expect(() => checkZeroShotFloor(config(pretrained, 'zeroShot'))).not.toThrow();
  expect(() => checkZeroShotFloor(config('t5-small', 'zeroShot'))).not.toThrow();
  expect(() => checkZeroShotFloor(config(randomWeights, 'best'))).not.toThrow();
  expect(() => checkZeroShotFloor(config(randomWeights, 'best', false))).not.toThrow();
});

test('the marker is the file tuneflow_ml.tiny_model writes', async () => {
  const { stdout } = await execa(pythonExecutable(), ['-c', 'from tuneflow_ml.tiny_model import RANDOM_WEIGHTS_MARKER; print(RANDOM_WEIGHTS_MARKER)'], {
    env: { PYTHONPATH: path.join(REPO_ROOT, 'python') },
  });
  expect(stdout.trim()).toBe(RANDOM_WEIGHTS_MARKER);
});
