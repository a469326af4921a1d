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
