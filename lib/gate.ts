/**
 * The champion gate: whether a new model version takes the `champion` alias or becomes
 * `challenger`. Pure and deterministic, so the workflow (to know whether to wait for a person)
 * and the register activity (to act) decide alike.
 */
import { z } from 'zod';
import type { PipelineConfig } from './config';

export const GATE_ALIASES = { champion: 'champion', challenger: 'challenger' } as const;

/** A person's decision of a borderline case: the `promote` / `reject` signal. */
export const ReviewDecision = z.enum(['promote', 'reject']);
export type ReviewDecision = z.infer<typeof ReviewDecision>;

/** Who decided: the ROUGE-L rule, a person's signal, or the review timeout's default. */
export const DecidedBy = z.enum(['rule', 'signal', 'timeout']);
export type DecidedBy = z.infer<typeof DecidedBy>;

export const Review = z.object({ decision: ReviewDecision, decidedBy: DecidedBy.exclude(['rule']) });
export type Review = z.infer<typeof Review>;

export interface GateProposal {
  alias: keyof typeof GATE_ALIASES;
  /** new - champion ROUGE-L; null without a champion. */
  delta: number | null;
  /** Close enough to the champion (|delta| <= register.reviewBand) that a person should decide. */
  borderline: boolean;
  reason: string;
}

/** What the ROUGE-L rule decides, before any review. */
export function proposeGate(
  rougeL: number,
  championRougeL: number | null,
  settings: Pick<PipelineConfig['register'], 'minDelta' | 'reviewBand'>,
): GateProposal {
  if (championRougeL === null) {
    return { alias: 'champion', delta: null, borderline: false, reason: 'no champion yet: the first version becomes champion' };
  }
  const delta = rougeL - championRougeL;
  const borderline = settings.reviewBand > 0 && Math.abs(delta) <= settings.reviewBand;
  const scores = `ROUGE-L ${rougeL.toFixed(4)} vs champion ${championRougeL.toFixed(4)} (delta ${delta.toFixed(4)}, minDelta ${settings.minDelta})`;
  return delta >= settings.minDelta
    ? { alias: 'champion', delta, borderline, reason: `${scores}: beats the champion` }
    : { alias: 'challenger', delta, borderline, reason: `${scores}: does not beat the champion` };
}

/** The rule's proposal, overridden by a review when there was one. */
export function decideGate(proposal: GateProposal, review: Review | null): GateProposal & { decidedBy: DecidedBy } {
  if (review === null) return { ...proposal, decidedBy: 'rule' };
  const alias = review.decision === 'promote' ? 'champion' : 'challenger';
  const who = review.decidedBy === 'signal' ? 'a person' : 'the review timeout (register.reviewDefault)';
  return { ...proposal, alias, decidedBy: review.decidedBy, reason: `${proposal.reason}; borderline, ${review.decision} by ${who}` };
}
