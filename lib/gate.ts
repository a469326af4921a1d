/**
 * The champion gate: whether a new model version takes the `champion` alias, becomes
 * `challenger`, or is `rejected` below the quality floor (register.mustBeat). Pure and
 * deterministic, so the workflow (to know whether to wait for a person) and the register activity
 * (to act) decide alike.
 */
import { z } from 'zod';
import type { PipelineConfig } from './config';
import type { BaselineName, Baselines } from './steps/common';

export const GATE_ALIASES = { champion: 'champion', challenger: 'challenger' } as const;

/**
 * Where a new version goes: the `champion` or `challenger` alias, or `rejected` (a tag, no alias)
 * when it does not beat the baseline register.mustBeat names: such a model is never champion.
 */
export const GateDecision = z.enum(['champion', 'challenger', 'rejected']);
export type GateDecision = z.infer<typeof GateDecision>;

/** A person's decision of a borderline case: the `promote` / `reject` signal. */
export const ReviewDecision = z.enum(['promote', 'reject']);
export type ReviewDecision = z.infer<typeof ReviewDecision>;

/** Who decided: the rule (ROUGE-L, the quality floor), a person's signal, or the review timeout's default. */
export const DecidedBy = z.enum(['rule', 'signal', 'timeout']);
export type DecidedBy = z.infer<typeof DecidedBy>;

export const Review = z.object({ decision: ReviewDecision, decidedBy: DecidedBy.exclude(['rule']) });
export type Review = z.infer<typeof Review>;

export interface GateProposal {
  decision: GateDecision;
  /** new - champion ROUGE-L; null without a champion. */
  delta: number | null;
  /** Close enough to the champion (|delta| <= register.reviewBand) that a person should decide. */
  borderline: boolean;
  reason: string;
}

/** What the rules decide, before any review: the quality floor first, then the champion comparison. */
export function proposeGate(
  rougeL: number,
  championRougeL: number | null,
  baselines: Baselines,
  settings: Pick<PipelineConfig['register'], 'minDelta' | 'reviewBand' | 'mustBeat'>,
): GateProposal {
  const delta = championRougeL === null ? null : rougeL - championRougeL;
  const floor = qualityFloor(baselines, settings.mustBeat);
  const rejected = { decision: 'rejected' as const, delta, borderline: false };
  // The preflight refuses mustBeat zeroShot where zero-shot is not scored; if it was skipped anyway, no floor is no pass.
  if (floor?.rougeL === null) {
    return {
      ...rejected,
      reason: `register.mustBeat is zeroShot, but ${floor.name} was not scored (${baselines.zeroShot.skipped ?? 'no reason given'}): rejected, never champion; set register.mustBeat to best, lead or common`,
    };
  }
  if (floor && !(rougeL > floor.rougeL)) {
    return {
      ...rejected,
      reason:
        `ROUGE-L ${rougeL.toFixed(4)} does not beat ${floor.name}, ROUGE-L ${floor.rougeL.toFixed(4)} on the same rows (register.mustBeat: ${settings.mustBeat}): ` +
        'rejected, never champion; train longer or on more data (the run report shows ROUGE over the steps and sample summaries)',
    };
  }
  if (championRougeL === null || delta === null) {
    return { decision: 'champion', delta: null, borderline: false, reason: 'no champion yet: the first version becomes champion' };
  }
  const borderline = settings.reviewBand > 0 && Math.abs(delta) <= settings.reviewBand;
  const scores = `ROUGE-L ${rougeL.toFixed(4)} vs champion ${championRougeL.toFixed(4)} (delta ${delta.toFixed(4)}, minDelta ${settings.minDelta})`;
  return delta >= settings.minDelta
    ? { decision: 'champion', delta, borderline, reason: `${scores}: beats the champion` }
    : { decision: 'challenger', delta, borderline, reason: `${scores}: does not beat the champion` };
}

/** The baseline register.mustBeat names, described, with its ROUGE-L (null: not scored); null for `none`. */
function qualityFloor(baselines: Baselines, mustBeat: PipelineConfig['register']['mustBeat']): { name: string; rougeL: number | null } | null {
  if (mustBeat === 'none') return null;
  if (mustBeat === 'best') return { name: `the strongest baseline, ${describeBaseline(baselines, baselines.best.name)}`, rougeL: baselines.best.rougeL };
  const rougeL = mustBeat === 'zeroShot' ? (baselines.zeroShot.rouge?.rougeL ?? null) : baselines[mustBeat].rouge.rougeL;
  return { name: describeBaseline(baselines, mustBeat), rougeL };
}

/** A baseline as a person reads it: what it answers. */
export function describeBaseline(baselines: Baselines, name: BaselineName): string {
  if (name === 'lead') return `lead-${baselines.lead.words} (the review's first ${baselines.lead.words} words)`;
  if (name === 'common') return `the most common training headline ("${baselines.common.headline}" for every review)`;
  return `${baselines.zeroShot.model} zero-shot (the base model without fine-tuning)`;
}

/** The rules' proposal, overridden by a review when there was one; a rejected version stays rejected. */
export function decideGate(proposal: GateProposal, review: Review | null): GateProposal & { decidedBy: DecidedBy } {
  if (review === null || proposal.decision === 'rejected') return { ...proposal, decidedBy: 'rule' };
  const decision = review.decision === 'promote' ? 'champion' : 'challenger';
  const who = review.decidedBy === 'signal' ? 'a person' : 'the review timeout (register.reviewDefault)';
  return { ...proposal, decision, decidedBy: review.decidedBy, reason: `${proposal.reason}; borderline, ${review.decision} by ${who}` };
}
