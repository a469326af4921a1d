/** evaluate: ROUGE of the fine-tuned model on the validation set (`python -m tuneflow_ml.evaluate`). */
import * as path from 'node:path';
import { EvaluateInput, EvaluateResult, type EvaluateSpec } from '../lib/steps';
import { ensureStepDir } from '../lib/artifacts';
import { runPythonStep } from './python-runner';

export async function evaluate(rawInput: EvaluateInput): Promise<EvaluateResult> {
  const input = EvaluateInput.parse(rawInput);
  const outputDir = await ensureStepDir(input.config, input.pipelineId, 'evaluate');
  const spec: EvaluateSpec = { ...input, outputDir };
  const result = await runPythonStep({ module: 'evaluate', spec, specPath: path.join(outputDir, 'spec.json') });
  return EvaluateResult.parse(result);
}
