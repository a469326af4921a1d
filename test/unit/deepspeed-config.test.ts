/** The generated DeepSpeed configs of the seed's recipes equal the seed's own JSON files. */
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { loadConfigFile } from '../../lib/config-file';
import { deepSpeedConfig } from '../../lib/deepspeed';
import { parseConfig } from '../../lib/config';
import { REPO_ROOT } from '../../lib/artifacts';

const golden = (file: string) => JSON.parse(readFileSync(path.join(REPO_ROOT, 'configs', 'deepspeed', file), 'utf8'));
const recipe = (file: string) => loadConfigFile(path.join(REPO_ROOT, 'configs', file));

test('t5-small runs without DeepSpeed', async () => {
  expect(deepSpeedConfig((await recipe('t5-small.yaml')).train)).toBeNull();
});

test('t5-large: ZeRO-2 without offload, as the seed ran it', async () => {
  expect(deepSpeedConfig((await recipe('t5-large-zero2.yaml')).train)).toEqual(
    golden('seed-zero2-no-offload-adafactor.json'),
  );
});

test('t5-11b: ZeRO-3 with parameter and optimizer offload, as the seed ran it, Adafactor kept', async () => {
  // The seed's JSON, plus the flag that stops accelerate from swapping Adafactor for
  // DeepSpeedCPUAdam under optimizer offload (lib/deepspeed.ts says why).
  expect(deepSpeedConfig((await recipe('t5-11b-zero3-offload.yaml')).train)).toEqual({
    ...golden('seed-zero3-offload-adafactor.json'),
    zero_force_ds_cpu_optimizer: false,
  });
});

test('AdamW gets an optimizer block with "auto" values; Adafactor gets none', () => {
  const adamw = deepSpeedConfig(parseConfig({ train: { optim: 'adamw_torch', deepspeed: { stage: 2 } } }).train);
  expect(adamw?.optimizer).toEqual(expect.objectContaining({ type: 'AdamW' }));
  const adafactor = deepSpeedConfig(parseConfig({ train: { deepspeed: { stage: 3 } } }).train);
  expect(adafactor).not.toHaveProperty('optimizer');
  expect(adafactor?.fp16).toEqual({ enabled: false });
});
