/**
 * Part of the `model` check: register.mustBeat `zeroShot` needs a zero-shot score, and evaluate
 * scores none where evaluate.zeroShot is false or model.nameOrPath has random weights
 * (python/tuneflow_ml/baselines.py zero_shot_skipped). Refused here, before training, rather than
 * as a model rejected after it.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { resolveFromRepo } from '../../lib/artifacts';
import type { PipelineConfig } from '../../lib/config';
import { InvalidConfigError } from '../../lib/failures';

/** python/tuneflow_ml/tiny_model.py RANDOM_WEIGHTS_MARKER: the file it writes into the random-weights models it builds. */
export const RANDOM_WEIGHTS_MARKER = 'tuneflow-random-weights.json';

/** Throws InvalidConfigError when register.mustBeat is zeroShot and evaluate will not score zero-shot. */
export function checkZeroShotFloor(config: PipelineConfig): void {
  if (config.register.mustBeat !== 'zeroShot') return;
  const why = zeroShotSkipped(config);
  if (why === null) return;
  throw new InvalidConfigError(
    'register.mustBeat',
    `register.mustBeat is zeroShot, but zero-shot is not scored for this config: ${why}. ` +
      'Choose register.mustBeat best (the strongest baseline scored), lead or common instead',
  );
}

/** Why evaluate will not score model.nameOrPath zero-shot, as baselines.zero_shot_skipped decides; null when it will. */
function zeroShotSkipped(config: PipelineConfig): string | null {
  if (!config.evaluate.zeroShot) return 'evaluate.zeroShot is false';
  const model = config.model.nameOrPath;
  // A relative path resolves as the Python steps resolve it: from the repository root.
  if (existsSync(path.join(resolveFromRepo(model), RANDOM_WEIGHTS_MARKER))) {
    return `model.nameOrPath ${model} has random weights (it holds ${RANDOM_WEIGHTS_MARKER}, written by tuneflow_ml.tiny_model): zero-shot would only score noise`;
  }
  return null;
}
