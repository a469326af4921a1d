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

const share = z.number().min(0).max(1);

/** How varied the model's summaries are (python/tuneflow_ml/prediction_spread.py): a model that learned one answer writes it for most reviews. */
export const PredictionSpread = z.object({
  /** Distinct summaries / rows scored. */
  distinctShare: share,
  /** The summary written most often, exactly as written. */
  mostCommon: z.string(),
  /** Rows whose summary is `mostCommon` / rows scored. */
  mostCommonShare: share,
  /** Said plainly when more than half the summaries are one string ("the model writes 'Five Stars' for 81% of reviews"); else null. */
  degenerate: z.string().nullable(),
});
export type PredictionSpread = z.infer<typeof PredictionSpread>;

export const EvaluateResult = z.object({
  rouge: RougeScores,
  numExamples: count,
  predictions: PredictionSpread,
  /** Parquet of text, reference and generated summary for each scored example. */
  samplesPath: path,
  /** The champion's scores on the same rows; null without a champion. */
  champion: ChampionScore.nullable(),
  baselines: Baselines,
});
export type EvaluateResult = z.infer<typeof EvaluateResult>;
