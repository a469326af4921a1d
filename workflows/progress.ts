/**
 * The pipeline's progress as the `progress` query, the TuneflowStep search attribute and the UI's
 * "Current Details" show it: kept by `step()` around each step's work. Replay-neutral except the
 * search-attribute upserts, which are commands and happen in the same places on every run.
 */
import { defineQuery, isCancellation, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { describeFailure } from '../lib/failure-cause';
import {
  PIPELINE_STEPS,
  SEARCH_ATTRIBUTES,
  type PipelineProgress,
  type PipelineResult,
  type PipelineStep,
  type ReportOutcome,
} from '../lib/pipeline';

export const progressQuery = defineQuery<PipelineProgress>('progress');

/** The DAG with the current step marked, as Markdown for the UI's "Current Details". */
function currentDetails(progress: PipelineProgress, current: PipelineStep | null, failure: string | null = null): string {
  const steps = PIPELINE_STEPS.map((name) => {
    const reused = progress.steps[name].cachedFrom;
    const shown = reused ? `${name} (cached from ${reused})` : name;
    return name === current ? `**${shown}**` : shown;
  }).join(' → ');
  if (failure !== null) return `${steps}\n\nfailed: **${current}**\n\n${failure}`;
  return current === null ? `${steps}\n\nfinished` : `${steps}\n\nrunning: **${current}** (query \`progress\` for figures)`;
}

/** A fresh progress record, answered by the `progress` query from now on. */
export function trackProgress(pipelineId: string) {
  const progress: PipelineProgress = {
    pipelineId,
    currentStep: null,
    steps: Object.fromEntries(
      PIPELINE_STEPS.map((step) => [step, { state: 'pending', startedAt: null, finishedAt: null, durationMs: null }]),
    ) as PipelineProgress['steps'],
    counts: null,
    rouge: null,
    modelVersion: null,
    preflight: null,
    memoryPlan: null,
    awaitingReview: null,
    report: null,
    error: null,
  };
  setHandler(progressQuery, () => progress);

  /** Runs one of PIPELINE_STEPS: its state, times and (on failure) the error go into the record. */
  async function step<T>(name: PipelineStep, run: () => Promise<T>): Promise<T> {
    const status = progress.steps[name];
    progress.currentStep = name;
    status.state = 'running';
    status.startedAt = Date.now();
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: name }]);
    setCurrentDetails(currentDetails(progress, name));
    try {
      const result = await run();
      status.state = 'completed';
      return result;
    } catch (err) {
      status.state = isCancellation(err) ? 'cancelled' : 'failed';
      progress.error = describeFailure(err, name);
      if (status.state === 'failed') setCurrentDetails(currentDetails(progress, name, progress.error));
      throw err;
    } finally {
      status.finishedAt = Date.now();
      status.durationMs = status.finishedAt - status.startedAt;
    }
  }

  /** The steps are done and the run report starts (not a step: its failure fails no step). */
  function reportStarted(): void {
    progress.currentStep = null;
    progress.report = { state: 'running' };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: 'report' }]);
  }

  function finished(report: ReportOutcome): void {
    progress.report = report;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: 'done' }]);
    setCurrentDetails(currentDetails(progress, null));
  }

  function stepDurationsMs(): PipelineResult['stepDurationsMs'] {
    return Object.fromEntries(PIPELINE_STEPS.map((name) => [name, progress.steps[name].durationMs ?? 0])) as PipelineResult['stepDurationsMs'];
  }

  return { progress, step, reportStarted, finished, stepDurationsMs };
}
