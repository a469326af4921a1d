/**
 * Pieces every step's contracts share: the activities' common input, the path and count fields,
 * and the champion and ROUGE shapes that train, evaluate and register exchange. Steps pass
 * references only (paths, counts, ids), never the data itself, so Temporal payloads and history
 * stay small.
 */
import { z } from 'zod';
import { PipelineConfig } from '../config';

export const path = z.string().min(1);
export const count = z.number().int().nonnegative();

/** Every activity gets the validated config and the pipeline id (its artifacts folder). */
export const StepInput = z.object({
  pipelineId: z.string().min(1),
  config: PipelineConfig,
});
export type StepInput = z.infer<typeof StepInput>;

/** A registered version holding the `champion` alias, as evaluate (and train, with model.startFrom) found it. */
export const ChampionRef = z.object({
  version: z.string().min(1),
  /** `models:/<name>/<version>`: pinned, so a concurrent alias move cannot swap it mid-step. */
  modelUri: z.string().min(1),
});
export type ChampionRef = z.infer<typeof ChampionRef>;

export const RougeScores = z.object({
  rouge1: z.number(),
  rouge2: z.number(),
  rougeL: z.number(),
  rougeLsum: z.number(),
});
export type RougeScores = z.infer<typeof RougeScores>;

export const ChampionScore = z.object({ version: z.string().min(1), rouge: RougeScores });
export type ChampionScore = z.infer<typeof ChampionScore>;

/** The baselines `best` chooses among; register.mustBeat names one of them, or `best`. */
export const BaselineName = z.enum(['lead', 'common', 'zeroShot']);
export type BaselineName = z.infer<typeof BaselineName>;

/**
 * What the model must be better than, scored by evaluate on the same rows with the same scorer
 * (python/tuneflow_ml/baselines.py); register's quality floor (register.mustBeat) reads them.
 */
export const Baselines = z.object({
  /** The first `words` words of each review: the N whose lead-N scored best against the training headlines. */
  lead: z.object({
    words: z.number().int().positive(),
    rouge: RougeScores,
    /** How N was chosen: every N from 1 to `maxWords`, on `trainRows` training rows (a seeded sample), where lead-N scored `trainRougeL`. */
    chosenOn: z.object({ trainRows: count, maxWords: z.number().int().positive(), trainRougeL: z.number() }),
  }),
  /** The most common training headline (counted case-folded, in its most frequent spelling), given for every review. */
  common: z.object({ headline: z.string(), rouge: RougeScores }),
  /** model.nameOrPath without fine-tuning; `rouge` null and `skipped` the reason when not scored. */
  zeroShot: z.object({ model: z.string(), rouge: RougeScores.nullable(), skipped: z.string().nullable() }),
  /** The strongest scored baseline by ROUGE-L (zero-shot only when scored): register.mustBeat `best`'s floor. */
  best: z.object({ name: BaselineName, rougeL: z.number() }),
});
export type Baselines = z.infer<typeof Baselines>;
