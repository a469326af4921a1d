/**
 * Contracts of the register step, which talks to the MLflow registry from TypeScript
 * (activities/register.ts), no Python module.
 */
import { z } from 'zod';
import { DecidedBy, GateDecision, Review } from '../gate';
import { Baselines, ChampionScore, count, path, RougeScores, StepInput } from './common';

export const RegisterInput = StepInput.extend({
  workflowId: z.string().min(1),
  /** Temporal run id, for the lineage tags and the UI link. */
  workflowRunId: z.string().min(1),
  mlflowRunId: z.string().min(1),
  modelUri: z.string().min(1),
  rouge: RougeScores,
  /** evaluate's baselines on the same rows: register.mustBeat's floor. */
  baselines: Baselines,
  /** The split's files, fingerprinted into the run's dataset inputs (lineage). */
  datasets: z.object({
    train: z.object({ path, rows: count }),
    validation: z.object({ path, rows: count }),
  }),
  /** The champion gate's evidence. */
  gate: z.object({
    /** The champion evaluate scored (null: there was none). */
    champion: ChampionScore.nullable(),
    /** A person's (or the review timeout's) decision of a borderline case; null: the rule decides. */
    review: Review.nullable(),
  }),
});
export type RegisterInput = z.infer<typeof RegisterInput>;

export const RegisterResult = z.object({
  modelName: z.string(),
  version: z.string(),
  /** False when a retried attempt found the version an earlier attempt created. */
  created: z.boolean(),
  /** Where the version went and why. */
  gate: z.object({
    /** champion and challenger are aliases; rejected (below register.mustBeat's baseline) is a tag only. */
    decision: GateDecision,
    reason: z.string(),
    decidedBy: DecidedBy,
    rougeL: z.number(),
    /** The champion the new version was compared with. */
    champion: z.object({ version: z.string(), rougeL: z.number() }).nullable(),
    delta: z.number().nullable(),
  }),
});
export type RegisterResult = z.infer<typeof RegisterResult>;
