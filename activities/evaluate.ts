/**
 * evaluate: ROUGE of the fine-tuned model on the validation set (`python -m tuneflow_ml.evaluate`),
 * and of the current `champion` version on the same rows, so that register compares like with like.
 */
import { EvaluateInput, EvaluateResult, type EvaluateSpec } from '../lib/steps';
import { currentChampion } from '../lib/champion';
import { runStepActivity } from '../lib/python-step';

export async function evaluate(rawInput: EvaluateInput): Promise<EvaluateResult> {
  return runStepActivity(rawInput, {
    step: 'evaluate',
    input: EvaluateInput,
    result: EvaluateResult,
    spec: async (input, outputDir): Promise<EvaluateSpec> => ({
      ...input,
      outputDir,
      champion: await currentChampion(input.config.mlflow.trackingUri, input.config.register.modelName),
    }),
  });
}
