/** summarize: per-review and per-product summaries with the new model (`python -m tuneflow_ml.summarize`). */
import * as path from 'node:path';
import { SummarizeInput, SummarizeResult, type SummarizeSpec } from '../lib/steps';
import { ensureStepDir } from '../lib/artifacts';
import { runPythonStep } from './python-runner';

export async function summarize(rawInput: SummarizeInput): Promise<SummarizeResult> {
  const input = SummarizeInput.parse(rawInput);
  const outputDir = await ensureStepDir(input.config, input.pipelineId, 'summarize');
  const spec: SummarizeSpec = { ...input, outputDir };
  const result = await runPythonStep({ module: 'summarize', spec, specPath: path.join(outputDir, 'spec.json') });
  return SummarizeResult.parse(result);
}
