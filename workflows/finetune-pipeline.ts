/**
 * FineTunePipeline: preflight -> clean -> split -> train -> evaluate -> register -> summarize, then the run report.
 *
 * Deterministic workflow code: no I/O, no clocks but the workflow's, activity types only.
 * Activities pass references (paths, ids, counts), so the history stays small. Timeouts and
 * retries are in activity-options.ts, the progress record in progress.ts.
 */
import {
  ApplicationFailure,
  condition,
  defineSignal,
  executeChild,
  isCancellation,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { PipelineConfig, formatConfigIssues } from '../lib/config';
import { describeFailure } from '../lib/failure-cause';
import { FAILURE_TYPES } from '../lib/failures';
import { proposeGate, type Review, type ReviewDecision } from '../lib/gate';
import type { ReportInput } from '../lib/steps';
import { TASK_QUEUES } from '../lib/task-queues';
import { SEARCH_ATTRIBUTES, modelSearchValue, type PipelineInput, type PipelineResult, type ReportOutcome } from '../lib/pipeline';
import { generation, light, preflighting, reporting, training } from './activity-options';
import { bulkSummarize } from './bulk-summarize';
import { trackProgress } from './progress';
import { stepCache } from './step-cache';

export { progressQuery } from './progress';

/**
 * A person's decision of a borderline champion gate (register.reviewBand). The last one sent
 * counts, including one sent before the gate asked: the decision is the person's either way.
 */
export const promoteSignal = defineSignal('promote');
export const rejectSignal = defineSignal('reject');

export async function fineTunePipeline(input: PipelineInput): Promise<PipelineResult> {
  const pipelineId = workflowInfo().workflowId;
  const { progress, step, reportStarted, finished, stepDurationsMs } = trackProgress(pipelineId);
  let reviewed: ReviewDecision | null = null;
  setHandler(promoteSignal, () => void (reviewed = 'promote'));
  setHandler(rejectSignal, () => void (reviewed = 'reject'));

  const parsed = PipelineConfig.safeParse(input.config ?? {});
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.InvalidConfig,
      message: `invalid pipeline config:\n${formatConfigIssues(parsed.error)}`,
      nonRetryable: true,
    });
  }
  const config = parsed.data;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.model, value: modelSearchValue(config.model.nameOrPath) }]);

  const base = { pipelineId, config };
  const cached = stepCache(base, progress);
  // Every check that needs no GPU, on a CPU worker: a config that cannot run fails here, in seconds.
  const preflight = await step('preflight', () =>
    preflighting.preflight.executeWithOptions({ summary: `preflight of ${config.name}: input, model, MLflow, storage, GPU workers` }, [base]),
  );
  progress.preflight = preflight.checks;
  progress.memoryPlan = { gpuGiB: preflight.plan.chosen.gpuGiB, hostGiB: preflight.plan.chosen.hostGiB };

  const cleaned = await step('clean', async () => {
    const plan = await light.planClean.executeWithOptions({ summary: `plan clean of ${config.data.input}` }, [base]);
    // The input files as the plan found them (path, size, mtime) are what clean reads.
    return cached('clean', { files: plan.files, skipped: plan.skipped }, async () => {
      // One activity per shard (a file, or a range of a large TSV): every CPU worker takes shards,
      // each as many at once as its slots allow; a retried step skips the shards already done.
      const results = await Promise.all(
        plan.tasks.map((task) =>
          light.cleanShard.executeWithOptions({ summary: `clean ${task.file.name} (shard ${task.index + 1}/${plan.tasks.length})` }, [
            { ...base, task },
          ]),
        ),
      );
      return light.mergeClean.executeWithOptions({ summary: `merge ${plan.tasks.length} clean shards` }, [{ ...base, plan, results }]);
    });
  });
  progress.counts = cleaned.counts;

  const split = await step('split', () =>
    cached('split', { cleanedPath: cleaned.cleanedPath }, () =>
      light.split.executeWithOptions({ summary: `split ${cleaned.counts.kept} rows` }, [{ ...base, cleanedPath: cleaned.cleanedPath }]),
    ),
  );

  const runTrain = () =>
    training(config).train.executeWithOptions({ summary: `train ${config.model.nameOrPath} on ${split.trainRows} rows` }, [
      { ...base, trainPath: split.trainPath, validationPath: split.validationPath },
    ]);
  // Started from the champion, training depends on which version that is when it runs: never reused.
  const trained = await step('train', () =>
    config.model.startFrom === 'base' ? cached('train', { trainPath: split.trainPath, validationPath: split.validationPath }, runTrain) : runTrain(),
  );

  const evaluateInput = { modelDir: trained.modelDir, validationPath: split.validationPath, trainPath: split.trainPath, mlflowRunId: trained.mlflowRunId };
  const evaluation = await step('evaluate', () =>
    cached('evaluate', evaluateInput, () =>
      generation.evaluate.executeWithOptions({ summary: `ROUGE on ${split.validationRows} rows` }, [{ ...base, ...evaluateInput }]),
    ),
  );
  progress.rouge = evaluation.rouge;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.rougeL, value: evaluation.rouge.rougeL }]);

  /** Waits durably for a promote / reject signal; past register.reviewTimeoutSeconds the default decides. */
  async function review(reason: string): Promise<Review> {
    progress.awaitingReview = `${reason}: signal promote or reject within ${config.register.reviewTimeoutSeconds} s (then ${config.register.reviewDefault})`;
    const answered = await condition(() => reviewed !== null, `${config.register.reviewTimeoutSeconds} seconds`);
    progress.awaitingReview = null;
    return answered && reviewed !== null
      ? { decision: reviewed, decidedBy: 'signal' }
      : { decision: config.register.reviewDefault, decidedBy: 'timeout' };
  }

  const registered = await step('register', async () => {
    const proposal = proposeGate(evaluation.rouge.rougeL, evaluation.champion?.rouge.rougeL ?? null, evaluation.baselines, config.register);
    const gate = { champion: evaluation.champion, review: proposal.borderline ? await review(proposal.reason) : null };
    const registerInput = {
      mlflowRunId: trained.mlflowRunId,
      modelUri: trained.modelUri,
      rouge: evaluation.rouge,
      baselines: evaluation.baselines,
      datasets: {
        train: { path: split.trainPath, rows: split.trainRows },
        validation: { path: split.validationPath, rows: split.validationRows },
      },
      gate,
    };
    return cached('register', registerInput, () =>
      light.register.executeWithOptions({ summary: `register ${config.register.modelName}` }, [
        { ...base, workflowId: pipelineId, workflowRunId: workflowInfo().runId, ...registerInput },
      ]),
    );
  });
  progress.modelVersion = registered.version;

  // Sharded over the GPU workers by the BulkSummarize child (continue-as-new keeps each history small).
  const summarizeInput = {
    modelDir: trained.modelDir,
    cleanedPath: cleaned.cleanedPath,
    modelName: registered.modelName,
    modelVersion: registered.version,
    mlflowRunId: trained.mlflowRunId,
  };
  const summaries = await step('summarize', () => cached('summarize', summarizeInput, async () => {
    const bulk = await executeChild(bulkSummarize, {
      workflowId: `${pipelineId}-summarize`,
      taskQueue: TASK_QUEUES.cpu,
      staticSummary: `summarize with ${registered.modelName} v${registered.version} for ${pipelineId}`,
      args: [{ summarize: { ...base, ...summarizeInput } }],
    });
    return bulk.summaries;
  }));

  reportStarted();
  const reportInput = {
    mlflowRunId: trained.mlflowRunId,
    train: trained,
    evaluation,
    summaries,
    registered: { modelName: registered.modelName, version: registered.version },
  };
  // A reused train took no time now: the report of the pipeline that trained stands.
  const report = await cached(
    'report',
    reportInput,
    () => runReport({ ...base, ...reportInput, tuningMs: progress.steps.train.durationMs ?? 0 }),
    (outcome) => outcome.state === 'completed',
  );
  finished(report);

  return {
    pipelineId,
    config,
    preflight,
    clean: cleaned,
    split,
    train: trained,
    evaluation,
    registered,
    summaries,
    report,
    stepDurationsMs: stepDurationsMs(),
    progress,
  };
}

/**
 * The run report comes after the model is registered and the summaries written: past its retries
 * a failed report must not undo those, so it becomes the outcome's reason (a cancellation still cancels).
 */
async function runReport(input: ReportInput): Promise<ReportOutcome> {
  try {
    const made = await reporting.report.executeWithOptions({ summary: `run report of ${input.pipelineId}` }, [input]);
    return { state: 'completed', ...made };
  } catch (err) {
    if (isCancellation(err)) throw err;
    return {
      state: 'failed',
      reason:
        `${describeFailure(err, 'report')}; model ${input.registered.modelName} v${input.registered.version} and the summaries are unaffected ` +
        "(the step's traceback is in the cpu worker's log)",
    };
  }
}
