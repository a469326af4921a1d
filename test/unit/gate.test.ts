/** The champion gate's rule (lib/gate.ts): thresholds, the review band, and a person's override. */
import { decideGate, proposeGate } from '../../lib/gate';

const settings = { minDelta: 0, reviewBand: 0 };

test('without a champion the first version becomes champion, with no review', () => {
  expect(proposeGate(0.1, null, { minDelta: 0.5, reviewBand: 1 })).toEqual(
    expect.objectContaining({ alias: 'champion', delta: null, borderline: false }),
  );
});

test('promotes when new >= champion + minDelta: a tie promotes at minDelta 0', () => {
  expect(proposeGate(0.3, 0.3, settings).alias).toBe('champion');
  expect(proposeGate(0.29, 0.3, settings).alias).toBe('challenger');
  expect(proposeGate(0.32, 0.3, { ...settings, minDelta: 0.05 }).alias).toBe('challenger');
  expect(proposeGate(0.36, 0.3, { ...settings, minDelta: 0.05 }).alias).toBe('champion');
});

test('borderline only within a positive review band, on either side', () => {
  expect(proposeGate(0.3, 0.3, settings).borderline).toBe(false);
  expect(proposeGate(0.31, 0.3, { ...settings, reviewBand: 0.02 }).borderline).toBe(true);
  expect(proposeGate(0.29, 0.3, { ...settings, reviewBand: 0.02 }).borderline).toBe(true);
  expect(proposeGate(0.4, 0.3, { ...settings, reviewBand: 0.02 }).borderline).toBe(false);
});

test('a review overrides the rule and says who decided', () => {
  const worse = proposeGate(0.29, 0.3, { ...settings, reviewBand: 0.02 });
  expect(decideGate(worse, null)).toEqual(expect.objectContaining({ alias: 'challenger', decidedBy: 'rule' }));
  const promoted = decideGate(worse, { decision: 'promote', decidedBy: 'signal' });
  expect(promoted).toEqual(expect.objectContaining({ alias: 'champion', decidedBy: 'signal' }));
  expect(promoted.reason).toContain('promote by a person');
  const timedOut = decideGate(proposeGate(0.31, 0.3, settings), { decision: 'reject', decidedBy: 'timeout' });
  expect(timedOut).toEqual(expect.objectContaining({ alias: 'challenger', decidedBy: 'timeout' }));
});
