/**
 * Contracts of the evaluate step: `python -m tuneflow_ml.evaluate` reads EvaluateSpec and writes
 * EvaluateResult.
 */
import { z } from 'zod';
import { Baselines, ChampionRef, ChampionScore, count, path, RougeScores, StepInput } from './common';

export const EvaluateInput = StepInput.extend({
  modelDir: path,
  validationPath: path,
  /** The training split: the lead-N length and the most common headline come from it. */
  trainPath: path,
  mlflowRunId: z.string().min(1),
});
export type EvaluateInput = z.infer<typeof EvaluateInput>;

export const EvaluateSpec = EvaluateInput.extend({
  outputDir: path,
  /** Scored on the same validation rows as the new model; null when there is no champion. */
  champion: ChampionRef.nullable(),
});
export type EvaluateSpec = z.infer<typeof EvaluateSpec>;

export const EvaluateResult = z.object({
  rouge: RougeScores,
  numExamples: count,
  /** Parquet of text, reference and generated summary for each scored example. */
  samplesPath: path,
  /** The champion's scores on the same rows; null without a champion. */
  champion: ChampionScore.nullable(),
  baselines: Baselines,
});
export type EvaluateResult = z.infer<typeof EvaluateResult>;
