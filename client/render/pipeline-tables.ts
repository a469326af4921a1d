/** A pipeline as tables: its steps (`tuneflow status`) and, once it completed, its result (`run --wait`). */
import { describeBaseline } from '../../lib/gate';
import { PIPELINE_STEPS, type PipelineResult } from '../../lib/pipeline';
import { workflowUrl } from '../../lib/temporal-settings';
import type { PipelineStatus } from '../status/pipeline';
import { formatDuration, progressLine } from './progress';

/** Where MLflow shows the pipeline's training run and its model version. */
export interface MlflowLinks {
  run: string;
  model: string;
}

/** The result of a completed pipeline, one figure a line. */
export function finalTable(result: PipelineResult, mlflow: MlflowLinks): string {
  const { evaluation, registered, summaries } = result;
  const { counts, quarantinePath } = result.clean;
  const rows: [string, string][] = [
    ['pipeline', result.pipelineId],
    ['rows read', String(counts.read)],
    ['rows kept', String(counts.kept)],
    ['rows quarantined', `${counts.quarantined} (${quarantinePath})`],
    ['rows dropped (empty after cleaning)', String(counts.droppedEmpty)],
    ['rows filtered / sampled out', `${counts.filteredCategory} / ${counts.sampledOut}`],
    ['train / validation rows', `${result.split.trainRows} / ${result.split.validationRows}`],
    ['training', `${result.train.globalStep} steps on ${result.train.device}, final loss ${result.train.trainLoss?.toFixed(4) ?? 'n/a'}`],
    ...trainingEndRows(result.train),
    ...(result.train.metricsNotLogged > 0
      ? ([['  metric points lost', `${result.train.metricsNotLogged} (MLflow was down past its retries; the run is tagged tuneflow.metrics_not_logged)`]] as [string, string][])
      : []),
    [
      'ROUGE-1 / 2 / L / Lsum',
      [evaluation.rouge.rouge1, evaluation.rouge.rouge2, evaluation.rouge.rougeL, evaluation.rouge.rougeLsum]
        .map((v) => v.toFixed(4))
        .join(' / '),
    ],
    ['summaries written', spreadLine(evaluation.predictions)],
    ['ROUGE-L of the baselines', baselinesLine(evaluation.baselines)],
    ['  strongest', `${describeBaseline(evaluation.baselines, evaluation.baselines.best.name)}: ${evaluation.baselines.best.rougeL.toFixed(4)}`],
    ['  lead-N', leadChoiceLine(evaluation.baselines.lead)],
    ['model version', `${registered.modelName} v${registered.version}`],
    ['champion gate', `${registered.gate.decision} (decided by ${registered.gate.decidedBy})`],
    [
      'ROUGE-L new / champion',
      `${registered.gate.rougeL.toFixed(4)} / ${registered.gate.champion ? `${registered.gate.champion.rougeL.toFixed(4)} (v${registered.gate.champion.version})` : 'none'}`,
    ],
    ['  why', registered.gate.reason],
    ['product summaries', `${summaries.products.rows} -> ${summaries.products.parquet}`],
    ['review summaries', summaries.reviews ? `${summaries.reviews.rows} -> ${summaries.reviews.parquet}` : 'off'],
    ...PIPELINE_STEPS.map((step): [string, string] => [`  ${step}`, `${(result.stepDurationsMs[step] / 1000).toFixed(1)} s`]),
    ['Temporal UI', workflowUrl(result.pipelineId)],
    ['MLflow run', mlflow.run],
    ['MLflow model', mlflow.model],
    ['run report', result.report.state === 'completed' ? result.report.htmlPath : `failed: ${result.report.reason}`],
    ...(result.report.state === 'completed' ? ([['MLflow report', result.report.mlflowUrl]] as [string, string][]) : []),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)].join('\n');
}

/** How training ended: the best checkpoint it kept, and what early stopping did. */
function trainingEndRows(train: PipelineResult['train']): [string, string][] {
  const rows: [string, string][] = [];
  if (train.evaluations?.best) {
    const { best, done, samples } = train.evaluations;
    const stdErr = best.rougeLStdErr === null ? '' : ` ± ${best.rougeLStdErr.toFixed(4)}`;
    rows.push(['  best checkpoint', `step ${best.step}, validation ROUGE-L ${best.rougeL.toFixed(4)}${stdErr} (${done} evaluations on ${samples} rows): the registered model`]);
  }
  const stopping = train.earlyStopping;
  if (stopping) {
    rows.push([
      '  early stopping',
      stopping.stopped
        ? `stopped at step ${stopping.step} of ${stopping.configuredSteps}: ${stopping.stepsSaved} steps and ${stopping.gpuHoursSaved.toFixed(2)} GPU-hours saved`
        : `ran all ${stopping.configuredSteps} steps`,
    ]);
    const { basis } = stopping;
    rows.push([
      '    based on',
      `validation loss (best ${basis.bestLoss ? `${basis.bestLoss.value.toFixed(4)} at step ${basis.bestLoss.step}` : 'none'}; ` +
        `patience ${basis.patience}, minDelta ${(basis.minDelta * 100).toFixed(1)}%, no stop before step ${basis.warmupSteps}), ` +
        'with a new best ROUGE-L also counting as progress',
    ]);
    rows.push(['    why', stopping.reason]);
  }
  return rows;
}

/** The baselines evaluate scored on the model's rows: lead-N, the most common headline, zero-shot. */
function baselinesLine(baselines: PipelineResult['evaluation']['baselines']): string {
  const zeroShot = baselines.zeroShot.rouge
    ? baselines.zeroShot.rouge.rougeL.toFixed(4)
    : `skipped (${baselines.zeroShot.skipped ?? 'not scored'})`;
  return (
    `lead-${baselines.lead.words} ${baselines.lead.rouge.rougeL.toFixed(4)} / ` +
    `most common headline ${baselines.common.rouge.rougeL.toFixed(4)} / zero-shot ${zeroShot}`
  );
}

/** How varied the model's summaries are; said plainly when most are one string. */
function spreadLine(spread: PipelineResult['evaluation']['predictions']): string {
  const percent = (share: number) => `${Math.round(share * 100)}%`;
  return spread.degenerate
    ? `${spread.degenerate}: most summaries are one string (${percent(spread.distinctShare)} distinct)`
    : `${percent(spread.distinctShare)} distinct; the most common, ${JSON.stringify(spread.mostCommon)}, for ${percent(spread.mostCommonShare)} of reviews`;
}

/** How lead-N's N was chosen on the training split. */
function leadChoiceLine(lead: PipelineResult['evaluation']['baselines']['lead']): string {
  const { trainRows, maxWords, trainRougeL } = lead.chosenOn;
  return `N=${lead.words}, the best of 1..${maxWords} on ${trainRows} training rows (ROUGE-L ${trainRougeL.toFixed(4)} there)`;
}

/** The DAG, one step a line: state, attempts, duration, and what the running step is doing. */
export function statusText(status: PipelineStatus): string {
  const lines = [`${status.pipelineId}: ${status.status}  ${workflowUrl(status.pipelineId, status.runId)}`];
  lines.push(`  ${'STEP'.padEnd(10)} ${'STATE'.padEnd(10)} ${'ATTEMPTS'.padEnd(8)} DURATION`);
  status.steps.forEach((s, i) => {
    const arrow = i === 0 ? '  ' : '->';
    const duration = s.durationMs !== null ? formatDuration(s.durationMs / 1000) : '-';
    const reused = s.cachedFrom ? `  cached from ${s.cachedFrom}` : '';
    lines.push(`${arrow}${s.step.padEnd(10)} ${s.state.padEnd(10)} ${String(s.attempts ?? '-').padEnd(8)} ${duration}${reused}`);
    if (s.state === 'running') {
      if (s.activity) lines.push(`      activity: ${s.activity}`);
      if (s.heartbeat || s.shards) lines.push(`      ${progressLine(s)}`);
      if (s.lastFailure) lines.push(`      last attempt failed: ${s.lastFailure}`);
    }
    // A passed preflight may have skipped a check (no GPU worker polling yet): say which and why.
    if (s.step === 'preflight') {
      for (const check of status.progress.preflight ?? []) {
        if (check.state === 'skipped') lines.push(`      ${check.name} skipped: ${check.detail}`);
      }
    }
  });
  if (status.progress.awaitingReview) lines.push(`  waiting for a person: ${status.progress.awaitingReview}`);
  if (status.progress.error) lines.push(`  error: ${status.progress.error}`);
  return lines.join('\n');
}
