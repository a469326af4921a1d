/**
 * evaluate: ROUGE of the fine-tuned model on the validation set (`python -m tuneflow_ml.evaluate`),
 * and of the current `champion` version on the same rows, so that register compares like with like.
 */
import * as path from 'node:path';
import { EvaluateInput, EvaluateResult, type ChampionRef, type EvaluateSpec } from '../lib/steps';
import { ensureStepDir } from '../lib/artifacts';
import { GATE_ALIASES } from '../lib/gate';
import { MlflowClient } from '../lib/mlflow';
import { runPythonStep } from '../lib/python-step/runner';

export async function evaluate(rawInput: EvaluateInput): Promise<EvaluateResult> {
  const input = EvaluateInput.parse(rawInput);
  const outputDir = await ensureStepDir(input.config, input.pipelineId, 'evaluate');
  const champion = await currentChampion(input.config.mlflow.trackingUri, input.config.register.modelName);
  const spec: EvaluateSpec = { ...input, outputDir, champion };
  const result = await runPythonStep({ module: 'evaluate', spec, specPath: path.join(outputDir, 'spec.json') });
  return EvaluateResult.parse(result);
}

/** The version holding the `champion` alias now, pinned as `models:/<name>/<version>`; null if none. */
export async function currentChampion(trackingUri: string, modelName: string): Promise<ChampionRef | null> {
  const version = await new MlflowClient(trackingUri).aliasVersion(modelName, GATE_ALIASES.champion);
  return version === null ? null : { version, modelUri: `models:/${modelName}/${version}` };
}
