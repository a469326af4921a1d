/**
 * FineTunePipeline: clean -> split -> train -> evaluate -> register -> summarize.
 *
 * Deterministic workflow code: no I/O, no clocks but the workflow's, activity types only.
 * Activities pass references (paths, ids, counts), so the history stays small.
 */
import {
  ApplicationFailure,
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { cpuActivities, gpuActivities } from '../activities';
import { PipelineConfig, formatConfigIssues } from '../lib/config';
import { FAILURE_TYPES, NON_RETRYABLE_FAILURE_TYPES } from '../lib/failures';
import { TASK_QUEUES } from '../lib/task-queues';
import {
  PIPELINE_STEPS,
  SEARCH_ATTRIBUTES,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  type PipelineStep,
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

/** Training runs for days; infrastructure faults retry without limit, resuming from checkpoints. */
const trainer = proxyActivities<typeof gpuActivities>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '14 days',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
});

const generator = proxyActivities<typeof gpuActivities>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
});

export const progressQuery = defineQuery<PipelineProgress>('progress');

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
    error: null,
  };
  setHandler(progressQuery, () => progress);

  const parsed = PipelineConfig.safeParse(input.config ?? {});
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.InvalidConfig,
      message: `invalid pipeline config:\n${formatConfigIssues(parsed.error)}`,
      nonRetryable: true,
    });
  }
  const config = parsed.data;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.model, value: config.model.nameOrPath }]);

  async function step<T>(name: PipelineStep, run: () => Promise<T>): Promise<T> {
    const status = progress.steps[name];
    progress.currentStep = name;
    status.state = 'running';
    status.startedAt = Date.now();
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: name }]);
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
  const cleaned = await step('clean', () =>
    cpu.clean.executeWithOptions({ summary: `clean ${config.data.input}` }, [base]),
  );
  progress.counts = cleaned.counts;

  const split = await step('split', () =>
    cpu.split.executeWithOptions({ summary: `split ${cleaned.counts.kept} rows` }, [
      { ...base, cleanedPath: cleaned.cleanedPath },
    ]),
  );

  const trained = await step('train', () =>
    trainer.train.executeWithOptions(
      { summary: `train ${config.model.nameOrPath} on ${split.trainRows} rows` },
      [{ ...base, trainPath: split.trainPath, validationPath: split.validationPath }],
    ),
  );

  const evaluation = await step('evaluate', () =>
    generator.evaluate.executeWithOptions({ summary: `ROUGE on ${split.validationRows} rows` }, [
      { ...base, modelDir: trained.modelDir, validationPath: split.validationPath, mlflowRunId: trained.mlflowRunId },
    ]),
  );
  progress.rouge = evaluation.rouge;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.rougeL, value: evaluation.rouge.rougeL }]);

  const registered = await step('register', () =>
    cpu.register.executeWithOptions({ summary: `register ${config.register.modelName}` }, [
      {
        ...base,
        workflowId: pipelineId,
        mlflowRunId: trained.mlflowRunId,
        modelUri: trained.modelUri,
        rouge: evaluation.rouge,
      },
    ]),
  );
  progress.modelVersion = registered.version;

  const summaries = await step('summarize', () =>
    generator.summarize.executeWithOptions(
      { summary: `summarize with ${registered.modelName} v${registered.version}` },
      [
        {
          ...base,
          modelDir: trained.modelDir,
          cleanedPath: cleaned.cleanedPath,
          modelName: registered.modelName,
          modelVersion: registered.version,
          mlflowRunId: trained.mlflowRunId,
        },
      ],
    ),
  );
  progress.currentStep = null;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.step, value: 'done' }]);

  return {
    pipelineId,
    config,
    clean: cleaned,
    split,
    train: trained,
    evaluation,
    registered,
    summaries,
    stepDurationsMs: Object.fromEntries(
      PIPELINE_STEPS.map((name) => [name, progress.steps[name].durationMs ?? 0]),
    ) as PipelineResult['stepDurationsMs'],
  };
}
