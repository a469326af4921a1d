/** The champion gate's rule (lib/gate.ts): the quality floor, thresholds, the review band, and a person's override. */
import { decideGate, proposeGate } from '../../lib/gate';

const settings = { minDelta: 0, reviewBand: 0, mustBeat: 'lead' as const };

function rouge(rougeL: number) {
  return { rouge1: rougeL, rouge2: rougeL, rougeL, rougeLsum: rougeL };
}

/** lead-8 at 0.118 and the most common headline at 0.103: the musical-instrument run. */
const baselines = { lead: { words: 8, rouge: rouge(0.118) }, common: { headline: 'Great for the price', rouge: rouge(0.103) } };

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

test('a model that does not beat lead-N is rejected, never champion: with no champion, against a worse one, or reviewed', () => {
  const first = proposeGate(0.102, null, baselines, settings);
  expect(first).toEqual(expect.objectContaining({ decision: 'rejected', borderline: false, delta: null }));
  expect(first.reason).toContain('does not beat lead-8');
  expect(first.reason).toContain('0.1180');
  // A tie with the floor does not beat it; a worse champion does not make it better.
  expect(proposeGate(0.118, null, baselines, settings).decision).toBe('rejected');
  expect(proposeGate(0.11, 0.05, baselines, { ...settings, reviewBand: 1 })).toEqual(
    expect.objectContaining({ decision: 'rejected', delta: expect.closeTo(0.06, 6), borderline: false }),
  );
  // A person's promote cannot lift it over the floor.
  expect(decideGate(proposeGate(0.11, 0.1, baselines, settings), { decision: 'promote', decidedBy: 'signal' })).toEqual(
    expect.objectContaining({ decision: 'rejected', decidedBy: 'rule' }),
  );
  expect(proposeGate(0.119, null, baselines, settings).decision).toBe('champion');
});

test('register.mustBeat picks the floor: the most common headline, or none', () => {
  expect(proposeGate(0.11, null, baselines, { ...settings, mustBeat: 'common' }).decision).toBe('champion');
  const belowCommon = proposeGate(0.1, null, baselines, { ...settings, mustBeat: 'common' });
  expect(belowCommon.decision).toBe('rejected');
  expect(belowCommon.reason).toContain('"Great for the price"');
  expect(proposeGate(0.01, null, baselines, { ...settings, mustBeat: 'none' }).decision).toBe('champion');
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
