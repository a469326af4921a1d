import * as path from 'node:path';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { PipelineConfig, parseConfig } from '../../lib/config';
import { InvalidConfigError } from '../../lib/failures';
import { loadConfigFile } from '../../lib/config-file';
import { REPO_ROOT } from '../../lib/artifacts';
import { tempDir } from '../helpers/environment';

describe('pipeline config', () => {
  test('an empty config is the demo defaults', () => {
    const config = parseConfig({});
    expect(config.model.sourcePrefix).toBe('summarize: ');
    expect(config.train.optim).toBe('adafactor');
    expect(config.data.maxTextWords).toBe(100);
    expect(config.data.maxSummaryWords).toBe(20);
    expect(config.split.validationFraction).toBe(0.1);
  });

  test('every committed config file is valid', async () => {
    const files = readdirSync(path.join(REPO_ROOT, 'configs')).filter((f) => f.endsWith('.yaml'));
    expect(files).toEqual(expect.arrayContaining(['demo.yaml', 't5-small.yaml', 't5-large-zero2.yaml', 't5-11b-zero3-offload.yaml']));
    for (const file of files) {
      const config = await loadConfigFile(path.join(REPO_ROOT, 'configs', file));
      expect(PipelineConfig.parse(config)).toEqual(config);
    }
  });

  test('errors name each bad field by its path and say why', () => {
    const attempt = () =>
      parseConfig({ train: { perDeviceTrainBatchSize: 0, optim: 'sgd' }, data: { sampleFraction: 1.5 }, extra: 1 }, 'x.yaml');
    expect(attempt).toThrow(InvalidConfigError);
    const message = (() => {
      try {
        attempt();
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toContain('x.yaml');
    expect(message).toMatch(/train\.perDeviceTrainBatchSize: .*>0/);
    expect(message).toMatch(/train\.optim: .*"adafactor"/);
    expect(message).toMatch(/data\.sampleFraction: .*<=1/);
    expect(message).toMatch(/\(root\): Unrecognized key.*extra/);
  });

  test('cross-field rules: parameter offload needs ZeRO-3, min tokens within max', () => {
    expect(() => parseConfig({ train: { deepspeed: { stage: 2, offloadParam: true } } })).toThrow(/train\.deepspeed\.offloadParam/);
    expect(() => parseConfig({ summarize: { minNewTokens: 60, maxNewTokens: 50 } })).toThrow(/summarize\.minNewTokens/);
  });

  test('evaluation during training: early stopping needs it, every checkpoint is an evaluation step', () => {
    expect(parseConfig({}).train).toEqual(expect.objectContaining({ evalEverySteps: null, earlyStopping: null }));
    expect(() => parseConfig({ train: { earlyStopping: { patience: 2 } } })).toThrow(/train\.earlyStopping: .*needs train\.evalEverySteps/);
    expect(() => parseConfig({ train: { checkpointEverySteps: 50, evalEverySteps: 20 } })).toThrow(/train\.evalEverySteps: checkpointEverySteps must be a multiple/);
    expect(parseConfig({ train: { checkpointEverySteps: 50, evalEverySteps: 25, earlyStopping: {} } }).train.earlyStopping).toEqual({
      patience: 3,
      minDelta: 0.005,
      minSteps: null,
    });
    // minSteps beyond the configured steps: a config error naming both numbers (with epochs, train checks it on the data).
    expect(() => parseConfig({ train: { maxSteps: 100, evalEverySteps: 10, checkpointEverySteps: 50, earlyStopping: { minSteps: 150 } } })).toThrow(
      /train\.earlyStopping\.minSteps: 150 is beyond train\.maxSteps \(100\)/,
    );
  });

  test('register.mustBeat: the strongest baseline by default; each baseline, or none, by name', () => {
    expect(parseConfig({}).register.mustBeat).toBe('best');
    for (const mustBeat of ['best', 'lead', 'common', 'zeroShot', 'none'] as const) {
      expect(parseConfig({ register: { mustBeat } }).register.mustBeat).toBe(mustBeat);
    }
    expect(() => parseConfig({ register: { mustBeat: 'zero-shot' } })).toThrow(/register\.mustBeat: .*"best"/);
  });

  test('data.header false: every column by position, text and summary given, CSV or TSV only', () => {
    const headerless = parseConfig({ data: { header: false, columns: { text: 6, summary: 5, reviewId: 3 } } });
    expect(headerless.data).toMatchObject({ header: false, columns: { text: 6, summary: 5, reviewId: 3 } });
    expect(parseConfig({}).data.header).toBe(true);
    const problems = (data: Record<string, unknown>) => {
      try {
        parseConfig({ data }, 'x.yaml');
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidConfigError);
        return (error as InvalidConfigError).details.split('\n');
      }
    };
    const byPosition = 'with data.header false, name each column by its position (1 = first)';
    expect(problems({ header: false, columns: { text: 'body', summary: 2 } })).toEqual([`data.columns.text: ${byPosition}`]);
    expect(problems({ header: false, columns: { text: 1 } })).toEqual([`data.columns.summary: ${byPosition}; summary has no default without a header`]);
    expect(problems({ header: false, category: 'Camera', columns: { text: 1, summary: 2 } })).toEqual([
      `data.columns.category: ${byPosition}; data.category filters on it`,
    ]);
    expect(problems({ header: false, format: 'jsonl', columns: { text: 1, summary: 2 } })).toEqual([
      'data.header: data.header false applies to CSV and TSV input only (data.format is jsonl, whose fields are named)',
    ]);
    expect(problems({ columns: { text: 3 } })).toEqual([
      'data.columns.text: a position (3) needs data.header: false; with a header line, name the column as the header does',
    ]);
    expect(problems({ header: false, columns: { text: 0, summary: 1.5 } })).toEqual([
      'data.columns.text: Too small: expected number to be >0',
      'data.columns.summary: expected a column name, or (with data.header false) a position: a whole number, 1 for the first column',
    ]);
  });

  test('config files: unreadable, malformed YAML and invalid values are InvalidConfigError', async () => {
    const dir = await tempDir('config');
    await expect(loadConfigFile(path.join(dir, 'missing.yaml'))).rejects.toThrow(/cannot read the file/);
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, 'train: [1, 2\n');
    await expect(loadConfigFile(broken)).rejects.toThrow(/not valid YAML/);
    const invalid = path.join(dir, 'invalid.json');
    await writeFile(invalid, JSON.stringify({ split: { validationFraction: 1 } }));
    await expect(loadConfigFile(invalid)).rejects.toThrow(/split\.validationFraction/);
  });
});
