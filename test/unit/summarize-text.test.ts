/** `tuneflow summarize --text`: the real CLI, a real generation engine, the tiny T5. */
import * as path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { parseConfig } from '../../lib/config';
import { SummarizeTextResult } from '../../lib/steps';
import { summarizeTextSpec } from '../../client/summarize-text';
import { demoFixture, tempDir } from '../helpers/environment';
import { hostDevice } from '../helpers/accelerators';

const CLI = path.join(REPO_ROOT, 'bin', 'tuneflow');
const TEXT = 'The lens is sharp and the battery lasts all day. Autofocus is fast, even in low light.';

let dir: string;
let model: string;

beforeAll(async () => {
  dir = await tempDir('summarize-text');
  ({ model } = await demoFixture(dir, 300, 10));
});

test('prints the summary and its latency as JSON, with the config\'s generation settings', async () => {
  const config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({ model: { maxSourceLength: 64 }, generation: { noRepeatNgramSize: 2 }, summarize: { numBeams: 2, minNewTokens: 3, maxNewTokens: 6 } }),
  );
  const { stdout } = await execa(CLI, ['summarize', '--text', TEXT, '--model', model, '--config', config, '--repeat', '3', '--json']);
  const printed = JSON.parse(stdout);
  const result = SummarizeTextResult.parse(printed);
  expect(result.summary.trim()).not.toBe('');
  expect(result.latencyMs.samples).toBe(3);
  expect(result.latencyMs.p50).toBeGreaterThan(0);
  expect(result.latencyMs.p95).toBeGreaterThanOrEqual(result.latencyMs.p50);
  expect(result.engine).toMatchObject({ name: 'ctranslate2', conversion: expect.stringMatching(/^(converted|reused)$/), warning: null });
  expect(printed.generation).toEqual({
    prefix: 'summarize: ',
    maxSourceLength: 64,
    numBeams: 2,
    minNewTokens: 3,
    maxNewTokens: 6,
    noRepeatNgramSize: 2,
    repetitionPenalty: 1,
    lengthPenalty: 1,
  });
  expect(printed.modelDir).toBe(model);

  // The same text gives the same summary (generation is deterministic), in the human format too.
  const human = await execa(CLI, ['summarize', '--text', TEXT, '--model', model, '--config', config]);
  const [summary, latency] = human.stdout.split('\n');
  expect(summary).toBe(result.summary);
  const device = (await hostDevice()).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); // the GPU's name, or cpu
  // The default engine: CTranslate2, float32 on a CPU.
  const engine = device === 'cpu' ? 'ctranslate2 float32' : 'ctranslate2 \\w+';
  expect(latency).toMatch(new RegExp(`^latency \\d+ ms on ${device}, ${engine} \\(model load \\d+ ms; 2 beams, 3-6 new tokens\\)$`));
});

test('an empty text or a directory without a model fails at once, saying what to pass', async () => {
  const empty = await execa(CLI, ['summarize', '--text', '  ', '--model', model], { reject: false });
  expect(empty.exitCode).toBe(1);
  expect(empty.stderr).toContain('--text: the text to summarize is empty');

  const noModel = path.join(dir, 'no-model');
  expect(() => summarizeTextSpec({ text: TEXT, model: noModel, repeat: 1 }, parseConfig({}))).toThrow(
    `--model ${noModel}: ${noModel} holds no model (no config.json); pass --model with a trained model directory`,
  );
  expect(() => summarizeTextSpec({ text: TEXT, model, repeat: 0 }, parseConfig({}))).toThrow('--repeat');
});
