/** bench/quality's output: a block per data set as it finishes, then one Markdown table of them all. */
import { FLAT_SHARE, type SetFigures } from './compare';

/** Early stopping must keep at least this share of the trained-through ROUGE-L on every set (issue 29). */
export const TARGET_RATIO = 0.98;

const f4 = (value: number) => value.toFixed(4);
const at = (best: { step: number; rougeL: number } | null) => (best === null ? 'none' : `${f4(best.rougeL)} at step ${best.step}`);

function baselineText(figures: SetFigures): string {
  const { lead, common, zeroShot, best } = figures.baselines;
  const zero = zeroShot.rouge === null ? 'skipped' : f4(zeroShot.rouge.rougeL);
  return `lead-${lead.words} ${f4(lead.rouge.rougeL)}, common "${common.headline}" ${f4(common.rouge.rougeL)}, zero-shot ${zero}; best: ${best.name} ${f4(best.rougeL)}`;
}

export function setBlock(figures: SetFigures): string {
  const { through, early } = figures;
  const overBest = (rougeL: number) => {
    const change = (rougeL / figures.baselines.best.rougeL - 1) * 100;
    return `${Math.abs(change).toFixed(0)}% ${change >= 0 ? 'above' : 'below'} the best baseline`;
  };
  const curve = through.curve.map((point) => `${point.step} ${point.rougeL.toFixed(3)}/${point.loss?.toFixed(3) ?? '-'}`).join(', ');
  const stop = early.stopped ? `stopped at step ${early.steps} of ${early.configuredSteps}, ${early.stepsSaved} steps saved` : `ran all ${early.steps} steps`;
  return [
    `${figures.name}: ${figures.trainRows} train / ${figures.validationRows} validation rows; evaluate scores ${figures.evaluateRows}, each evaluation during training ${figures.evalSamples}`,
    ...(figures.capped ? [`  note: ${figures.capped}`] : []),
    `  baselines (ROUGE-L): ${baselineText(figures)}`,
    `  trained through:  ${through.steps} steps in ${through.trainSeconds.toFixed(0)} s; best validation ROUGE-L ${at(through.best)} ` +
      `(within ${FLAT_SHARE * 100}% of it from step ${figures.flatFromStep ?? '-'}); evaluate ${f4(through.rougeL)}, ${overBest(through.rougeL)}`,
    `  early stopping:   ${stop} in ${early.trainSeconds.toFixed(0)} s; best ${at(early.best)}; evaluate ${f4(early.rougeL)}, ${overBest(early.rougeL)}`,
    `  ratio early / trained through: ${figures.ratio.toFixed(3)} (target >= ${TARGET_RATIO})`,
    `  trained-through curve, step ROUGE-L/loss: ${curve}`,
  ].join('\n');
}

export function summaryTable(sets: SetFigures[]): string {
  const header = [
    '| set | train / val rows | lead-N | common | zero-shot | trained through: best val ROUGE-L (step), flat from | evaluate | early: stop step (saved) | best val ROUGE-L (step) | evaluate | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const rows = sets.map((s) => {
    const { lead, common, zeroShot } = s.baselines;
    const best = (b: { step: number; rougeL: number } | null) => (b === null ? '-' : `${f4(b.rougeL)} (${b.step})`);
    const cells = [
      s.name,
      `${s.trainRows} / ${s.validationRows}`,
      `${f4(lead.rouge.rougeL)} (N=${lead.words})`,
      f4(common.rouge.rougeL),
      zeroShot.rouge === null ? 'skipped' : f4(zeroShot.rouge.rougeL),
      `${best(s.through.best)}, ${s.flatFromStep ?? '-'}`,
      f4(s.through.rougeL),
      `${s.early.steps} of ${s.early.configuredSteps} (${s.early.stepsSaved})`,
      best(s.early.best),
      f4(s.early.rougeL),
      `${s.ratio.toFixed(3)}${s.ratio >= TARGET_RATIO ? '' : ' (below)'}`,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  const met = sets.filter((s) => s.ratio >= TARGET_RATIO).length;
  return [...header, ...rows, '', `target ratio >= ${TARGET_RATIO}: met on ${met} of ${sets.length} sets`].join('\n');
}
