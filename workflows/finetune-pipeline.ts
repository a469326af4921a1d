/**
 * FineTunePipeline: clean -> split -> train -> evaluate -> register -> summarize, then the run report.
 *
 * Deterministic workflow code: no I/O, no clocks but the workflow's, activity types only.
 * Activities pass references (paths, ids, counts), so the history stays small.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  executeChild,
  defineSignal,
  isCancellation,
  patched,
  setCurrentDetails,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { cpuActivities, gpuActivities } from '../activities';
import { PipelineConfig, formatConfigIssues } from '../lib/config';
import { bulkSummarize } from './bulk-summarize';
import { FAILURE_TYPES, NON_RETRYABLE_FAILURE_TYPES } from '../lib/failures';
import { proposeGate, type Review, type ReviewDecision } from '../lib/gate';
import type { RegisterInput } from '../lib/steps';
import { TASK_QUEUES } from '../lib/task-queues';
import {
  PIPELINE_STEPS,
  SEARCH_ATTRIBUTES,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  type PipelineStep,
  type ReportOutcome,
} from '../lib/pipeline';

const cpu = proxyActivities<typeof cpuActivities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 8,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
});

/**
 * Training runs for days; infrastructure faults retry without limit, resuming from checkpoints.
 * The heartbeat timeout (how soon a dead worker is noticed) comes from the config; cancellation
 * waits until the step's processes are gone, so a cancelled run is really over when it says so.
 */
function trainerFor(config: PipelineConfig) {
  return proxyActivities<typeof gpuActivities>({
    taskQueue: TASK_QUEUES.gpu,
    startToCloseTimeout: '14 days',
    heartbeatTimeout: `${config.train.heartbeatTimeoutSeconds} seconds`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '10 seconds',
      backoffCoefficient: 2,
      maximumInterval: '10 minutes',
      nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
    },
  });
}

const generator = proxyActivities<typeof gpuActivities>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '2 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
});

/**
 * The run report reads results and renders plots: a few retries cover a flaky MLflow or worker;
 * past them the pipeline still completes (its model is registered) with the report marked failed.
 */
const reporter = proxyActivities<typeof cpuActivities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
});

export const progressQuery = defineQuery<PipelineProgress>('progress');

/** The DAG with the current step marked, as Markdown for the UI's "Current Details". */
function currentDetails(current: PipelineStep | null): string {
  const steps = PIPELINE_STEPS.map((name) => (name === current ? `**${name}**` : name)).join(' → ');
  return current === null ? `${steps}\n\nfinished` : `${steps}\n\nrunning: **${current}** (query \`progress\` for figures)`;
}
/**
 * A person's decision of a borderline champion gate (register.reviewBand). The last one sent
 * counts, including one sent before the gate asked: the decision is the person's either way.
 */
export const promoteSignal = defineSignal('promote');
export const rejectSignal = defineSignal('reject');

export async function fineTunePipeline(input: PipelineInput): Promise<PipelineResult> {
  const pipelineId = workflowInfo().workflowId;
  const progress: PipelineProgress = {
    pipelineId,
    currentStep: null,
    steps: Object.fromEntries(
      PIPELINE_STEPS.map((step) => [step, { state: 'pending', startedAt: null, finishedAt: null, durationMs: null }]),
    ) as PipelineProgress['steps'],
    counts: null,
    rouge: null,
    modelVersion: null,
    memoryPlan: null,
    awaitingReview: null,
    report: null,
    error: null,
  };
  setHandler(progressQuery, () => progress);
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
  const trainer = trainerFor(config);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.model, value: config.model.nameOrPath }]);

  async function step<T>(name: PipelineStep, run: () => Promise<T>): Promise<T> {
    const status = progress.steps[name];
    progress.currentStep = name;
    status.state = 'running';
    status.startedAt = Date.now();
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: name }]);
    // The UI's "Current Details": where the DAG is, in words (not a command: replay-neutral).
    setCurrentDetails(currentDetails(name));
    try {
      const result = await run();
      status.state = 'completed';
      return result;
    } catch (err) {
      status.state = isCancellation(err) ? 'cancelled' : 'failed';
      progress.error = `${name}: ${(err as Error).message}`;
      throw err;
    } finally {
      status.finishedAt = Date.now();
      status.durationMs = status.finishedAt - status.startedAt;
    }
  }

  const base = { pipelineId, config };
  const cleaned = await step('clean', async () => {
    // Histories recorded before the fan-out replay with the single clean activity.
    if (!patched('clean-shards')) return cpu.clean.executeWithOptions({ summary: `clean ${config.data.input}` }, [base]);
    const plan = await cpu.planClean.executeWithOptions({ summary: `plan clean of ${config.data.input}` }, [base]);
    // One activity per shard (a file, or a range of a large TSV): every CPU worker takes shards,
    // each as many at once as its slots allow; a retried step skips the shards already done.
    const results = await Promise.all(
      plan.tasks.map((task) =>
        cpu.cleanShard.executeWithOptions({ summary: `clean ${task.file.name} (shard ${task.index + 1}/${plan.tasks.length})` }, [
          { ...base, task },
        ]),
      ),
    );
    return cpu.mergeClean.executeWithOptions({ summary: `merge ${plan.tasks.length} clean shards` }, [{ ...base, plan, results }]);
  });
  progress.counts = cleaned.counts;

  const split = await step('split', () =>
    cpu.split.executeWithOptions({ summary: `split ${cleaned.counts.kept} rows` }, [
      { ...base, cleanedPath: cleaned.cleanedPath },
    ]),
  );

  const trained = await step('train', async () => {
    // The memory plan runs on a CPU worker: a config that cannot fit fails before a GPU is held.
    // Histories recorded before the plan existed replay without it.
    if (patched('plan-before-train')) {
      const plan = await cpu.planTraining.executeWithOptions({ summary: `memory plan of ${config.model.nameOrPath}` }, [base]);
      progress.memoryPlan = { gpuGiB: plan.chosen.gpuGiB, hostGiB: plan.chosen.hostGiB };
    }
    return trainer.train.executeWithOptions(
      { summary: `train ${config.model.nameOrPath} on ${split.trainRows} rows` },
      [{ ...base, trainPath: split.trainPath, validationPath: split.validationPath }],
    );
  });

  const evaluation = await step('evaluate', () =>
    generator.evaluate.executeWithOptions({ summary: `ROUGE on ${split.validationRows} rows` }, [
      { ...base, modelDir: trained.modelDir, validationPath: split.validationPath, mlflowRunId: trained.mlflowRunId },
    ]),
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
    // Histories from before the champion gate replay without it: those versions move no alias.
    let gate: RegisterInput['gate'];
    if (patched('champion-gate')) {
      // A result recorded by an evaluate from before the gate has no champion field: register
      // then sees the champion as moved and makes the version challenger, never champion unchecked.
      const champion = evaluation.champion ?? null;
      const proposal = proposeGate(evaluation.rouge.rougeL, champion?.rouge.rougeL ?? null, config.register);
      gate = { champion, review: proposal.borderline ? await review(proposal.reason) : null };
    }
    return cpu.register.executeWithOptions({ summary: `register ${config.register.modelName}` }, [
      {
        ...base,
        workflowId: pipelineId,
        workflowRunId: workflowInfo().runId,
        mlflowRunId: trained.mlflowRunId,
        modelUri: trained.modelUri,
        rouge: evaluation.rouge,
        datasets: {
          train: { path: split.trainPath, rows: split.trainRows },
          validation: { path: split.validationPath, rows: split.validationRows },
        },
        gate,
      },
    ]);
  });
  progress.modelVersion = registered.version;

  const summarizeInput = {
    ...base,
    modelDir: trained.modelDir,
    cleanedPath: cleaned.cleanedPath,
    modelName: registered.modelName,
    modelVersion: registered.version,
    mlflowRunId: trained.mlflowRunId,
  };
  const summaries = await step('summarize', async () => {
    // Sharded over the GPU workers by the BulkSummarize child (continue-as-new keeps each
    // history small); histories recorded before it replay with the single activity.
    if (patched('bulk-summarize')) {
      const bulk = await executeChild(bulkSummarize, {
        workflowId: `${pipelineId}-summarize`,
        taskQueue: TASK_QUEUES.cpu,
        staticSummary: `summarize with ${registered.modelName} v${registered.version} for ${pipelineId}`,
        args: [{ summarize: summarizeInput }],
      });
      return bulk.summaries;
    }
    return generator.summarize.executeWithOptions(
      { summary: `summarize with ${registered.modelName} v${registered.version}` },
      [summarizeInput],
    );
  });
  progress.currentStep = null;

  // Histories recorded before the report replay without it (their result's report is null).
  let report: ReportOutcome | null = null;
  if (patched('run-report')) {
    progress.report = { state: 'running' };
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: 'report' }]);
    try {
      const made = await reporter.report.executeWithOptions({ summary: `run report of ${pipelineId}` }, [
        {
          ...base,
          mlflowRunId: trained.mlflowRunId,
          train: trained,
          evaluation,
          summaries,
          registered: { modelName: registered.modelName, version: registered.version },
          tuningMs: progress.steps.train.durationMs ?? 0,
        },
      ]);
      report = { state: 'completed', ...made };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The model is registered and the summaries written: a missing report must not undo that.
      const cause = err instanceof ActivityFailure && err.cause ? err.cause : (err as Error);
      report = {
        state: 'failed',
        reason:
          `${cause.message}; model ${registered.modelName} v${registered.version} and the summaries are unaffected ` +
          "(the step's traceback is in the cpu worker's log)",
      };
    }
    progress.report = report;
  }
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: 'done' }]);
  setCurrentDetails(currentDetails(null));

  return {
    pipelineId,
    config,
    clean: cleaned,
    split,
    train: trained,
    evaluation,
    registered,
    summaries,
    report,
    stepDurationsMs: Object.fromEntries(
      PIPELINE_STEPS.map((name) => [name, progress.steps[name].durationMs ?? 0]),
    ) as PipelineResult['stepDurationsMs'],
    progress,
  };
}
