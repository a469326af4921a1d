/** The champion gate's rule (lib/gate.ts): the quality floor, thresholds, the review band, and a person's override. */
import { decideGate, proposeGate } from '../../lib/gate';
import { parseConfig } from '../../lib/config';
import type { Baselines } from '../../lib/steps';

/** The defaults: register.mustBeat best. */
const settings = parseConfig({}).register;

function rouge(rougeL: number) {
  return { rouge1: rougeL, rouge2: rougeL, rougeL, rougeLsum: rougeL };
}

/**
 * The demo: lead-3 at 0.075 and "Five Stars" for every review at 0.1575, the strongest;
 * the random-weights base model not scored zero-shot.
 */
const baselines: Baselines = {
  lead: { words: 3, rouge: rouge(0.075), chosenOn: { trainRows: 1000, maxWords: 40, trainRougeL: 0.08 } },
  common: { headline: 'Five Stars', rouge: rouge(0.1575) },
  zeroShot: { model: 'state/models/tiny-t5', rouge: null, skipped: 'state/models/tiny-t5 has random weights' },
  best: { name: 'common', rougeL: 0.1575 },
};

/** A pretrained base model scored zero-shot at 0.2, the strongest. */
const withZeroShot: Baselines = {
  ...baselines,
  zeroShot: { model: 't5-small', rouge: rouge(0.2), skipped: null },
  best: { name: 'zeroShot', rougeL: 0.2 },
};

test('the default floor is the strongest baseline', () => {
  expect(settings.mustBeat).toBe('best');
});

test('without a champion the first version becomes champion, with no review', () => {
  expect(proposeGate(0.2, null, baselines, { ...settings, minDelta: 0.5, reviewBand: 1 })).toEqual(
    expect.objectContaining({ decision: 'champion', delta: null, borderline: false }),
  );
});

test('promotes when new >= champion + minDelta: a tie promotes at minDelta 0', () => {
  expect(proposeGate(0.3, 0.3, baselines, settings).decision).toBe('champion');
  expect(proposeGate(0.29, 0.3, baselines, settings).decision).toBe('challenger');
  expect(proposeGate(0.32, 0.3, baselines, { ...settings, minDelta: 0.05 }).decision).toBe('challenger');
  expect(proposeGate(0.36, 0.3, baselines, { ...settings, minDelta: 0.05 }).decision).toBe('champion');
});

test('a model equal to the most common headline is rejected under the default, though it beats lead-N', () => {
  const constant = proposeGate(0.1575, null, baselines, settings);
  expect(constant).toEqual(expect.objectContaining({ decision: 'rejected', borderline: false, delta: null }));
  // The reason names the baseline, its score, the setting and what to do.
  expect(constant.reason).toContain('does not beat the strongest baseline, the most common training headline ("Five Stars" for every review), ROUGE-L 0.1575');
  expect(constant.reason).toContain('register.mustBeat: best');
  expect(constant.reason).toMatch(/train longer or on more data/);
  // Under the old default it would have passed: lead-3 is far below.
  expect(proposeGate(0.1575, null, baselines, { ...settings, mustBeat: 'lead' }).decision).toBe('champion');
  expect(proposeGate(0.158, null, baselines, settings).decision).toBe('champion');
});

test('below the floor is rejected, never champion: against a worse champion, or reviewed', () => {
  expect(proposeGate(0.15, 0.05, baselines, { ...settings, reviewBand: 1 })).toEqual(
    expect.objectContaining({ decision: 'rejected', delta: expect.closeTo(0.1, 6), borderline: false }),
  );
  // A person's promote cannot lift it over the floor.
  expect(decideGate(proposeGate(0.15, 0.14, baselines, settings), { decision: 'promote', decidedBy: 'signal' })).toEqual(
    expect.objectContaining({ decision: 'rejected', decidedBy: 'rule' }),
  );
});

test('best counts zero-shot where it was scored', () => {
  const belowZeroShot = proposeGate(0.19, null, withZeroShot, settings);
  expect(belowZeroShot.decision).toBe('rejected');
  expect(belowZeroShot.reason).toContain('t5-small zero-shot (the base model without fine-tuning), ROUGE-L 0.2000');
  expect(proposeGate(0.21, null, withZeroShot, settings).decision).toBe('champion');
});

test('register.mustBeat picks the floor: lead-N, the most common headline, zero-shot, or none', () => {
  const belowLead = proposeGate(0.07, null, baselines, { ...settings, mustBeat: 'lead' });
  expect(belowLead.decision).toBe('rejected');
  expect(belowLead.reason).toContain("does not beat lead-3 (the review's first 3 words), ROUGE-L 0.0750");
  expect(proposeGate(0.15, null, baselines, { ...settings, mustBeat: 'common' }).decision).toBe('rejected');
  expect(proposeGate(0.19, null, withZeroShot, { ...settings, mustBeat: 'zeroShot' }).decision).toBe('rejected');
  expect(proposeGate(0.19, null, withZeroShot, { ...settings, mustBeat: 'common' }).decision).toBe('champion');
  expect(proposeGate(0.01, null, baselines, { ...settings, mustBeat: 'none' }).decision).toBe('champion');
});

test('mustBeat zeroShot where zero-shot was not scored rejects, saying what to choose', () => {
  const unscored = proposeGate(0.9, null, baselines, { ...settings, mustBeat: 'zeroShot' });
  expect(unscored.decision).toBe('rejected');
  expect(unscored.reason).toContain('was not scored (state/models/tiny-t5 has random weights)');
  expect(unscored.reason).toContain('set register.mustBeat to best, lead or common');
});

test('borderline only within a positive review band, on either side', () => {
  expect(proposeGate(0.3, 0.3, baselines, settings).borderline).toBe(false);
  expect(proposeGate(0.31, 0.3, baselines, { ...settings, reviewBand: 0.02 }).borderline).toBe(true);
  expect(proposeGate(0.29, 0.3, baselines, { ...settings, reviewBand: 0.02 }).borderline).toBe(true);
  expect(proposeGate(0.4, 0.3, baselines, { ...settings, reviewBand: 0.02 }).borderline).toBe(false);
});

test('a review overrides the rule and says who decided', () => {
  const worse = proposeGate(0.29, 0.3, baselines, { ...settings, reviewBand: 0.02 });
  expect(decideGate(worse, null)).toEqual(expect.objectContaining({ decision: 'challenger', decidedBy: 'rule' }));
  const promoted = decideGate(worse, { decision: 'promote', decidedBy: 'signal' });
  expect(promoted).toEqual(expect.objectContaining({ decision: 'champion', decidedBy: 'signal' }));
  expect(promoted.reason).toContain('promote by a person');
  const timedOut = decideGate(proposeGate(0.31, 0.3, baselines, settings), { decision: 'reject', decidedBy: 'timeout' });
  expect(timedOut).toEqual(expect.objectContaining({ decision: 'challenger', decidedBy: 'timeout' }));
});
