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
