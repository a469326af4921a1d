/**
 * `npm run soak` only (TUNEFLOW_SOAK=1): 20 small pipelines (TUNEFLOW_SOAK_LOAD) started at once
 * against one CPU worker and one GPU worker. All complete, each with its one model version, and
 * the GPU worker never runs more activities at once (trainings included) than its slots: checked
 * from every GPU activity's started and completed times in the histories.
 */
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { fineTunePipeline } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { PipelineResult } from '../../lib/pipeline';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';
import { duplicatedOutputs } from '../helpers/pipeline-outputs';
import { eventMillis } from '../helpers/history-figures';

const SOAK = process.env.TUNEFLOW_SOAK === '1';
const PIPELINES = Number(process.env.TUNEFLOW_SOAK_LOAD ?? '20');
const GPU_ACTIVITIES = ['train', 'evaluate', 'summarizeShards'];

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };

beforeAll(async () => {
  if (!SOAK) return;
  workDir = await tempDir('load');
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 600, 20)]);
});

afterAll(async () => {
  await env?.teardown();
});

type Interval = { pipeline: string; activity: string; start: number; end: number };

/** Each GPU activity's run, started to completed, from a workflow's history (the child's for summarize). */
async function gpuIntervals(handle: WorkflowHandle): Promise<Interval[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const intervals: Interval[] = [];
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done) continue;
    const activity = byId.get(String(done.scheduledEventId))?.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
    if (!GPU_ACTIVITIES.includes(activity)) continue;
    intervals.push({ pipeline: handle.workflowId, activity, start: eventMillis(byId.get(String(done.startedEventId))?.eventTime), end: eventMillis(e.eventTime) });
  }
  return intervals;
}

/** The most intervals open at one instant. */
function mostAtOnce(intervals: Interval[]): number {
  const edges = intervals.flatMap((i) => [[i.start, 1] as const, [i.end, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, change] of edges) most = Math.max(most, (open += change));
  return most;
}

(SOAK ? test : test.skip)(`${PIPELINES} small pipelines at once on one CPU and one GPU worker: all complete, the GPU worker within its slots`, async () => {
  const namespace = env.namespace ?? 'default';
  const cpuWorker = await createCpuWorker(env.nativeConnection, namespace);
  const gpuWorker = await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] });
  // maxConcurrentActivityTaskExecutions, as the SDK compiled it: a fixed number of slots.
  const slots = gpuWorker.options.tuner.activityTaskSlotSupplier;
  const gpuSlots = slots.type === 'fixed-size' ? slots.numSlots : Number.NaN;
  const stamp = Date.now();
  const startedAt = Date.now();

  const outcomes = await cpuWorker.runUntil(
    gpuWorker.runUntil(async () => {
      const handles = await Promise.all(
        Array.from({ length: PIPELINES }, (_, i) =>
          env.client.workflow.start(fineTunePipeline, {
            taskQueue: TASK_QUEUES.cpu,
            workflowId: `load-${i}-${stamp}`,
            args: [
              {
                config: {
                  name: 'load-soak',
                  data: { input: fixture.data, category: 'Camera' },
                  model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
                  train: { epochs: 1, maxSteps: 10, perDeviceTrainBatchSize: 8, checkpointEverySteps: 10, loggingSteps: 5 },
                  evaluate: { maxSamples: 10, maxNewTokens: 8, zeroShot: false },
                  summarize: { minReviews: 10, numBeams: 1, minNewTokens: 2, maxNewTokens: 8, perReview: false, latencySamples: 0 },
                  register: { modelName: `tuneflow-load-${i}-${stamp}` },
                  storage: { root: path.join(workDir, 'runs') },
                  mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
                },
              },
            ],
          }),
        ),
      );
      return Promise.all(
        handles.map((handle) =>
          handle.result().then(
            (value) => ({ handle, result: PipelineResult.parse(value), error: null }),
            (error: unknown) => ({ handle, result: null, error: String(error) }),
          ),
        ),
      );
    }),
  );
  const seconds = Math.round((Date.now() - startedAt) / 1000);

  const failed = outcomes.filter((o) => o.result === null).map((o) => `${o.handle.workflowId}: ${o.error}`);
  const duplicates = (await Promise.all(outcomes.map((o) => (o.result ? duplicatedOutputs(o.result) : [])))).flat();
  const intervals = (
    await Promise.all(
      outcomes.flatMap((o) => [gpuIntervals(o.handle), gpuIntervals(env.client.workflow.getHandle(`${o.handle.workflowId}-summarize`))]),
    )
  ).flat();
  const trainings = intervals.filter((i) => i.activity === 'train');
  console.log(
    `${PIPELINES} pipelines at once: ${PIPELINES - failed.length} completed in ${seconds} s; GPU slots ${gpuSlots}; ` +
      `most GPU activities at once ${mostAtOnce(intervals)} (trainings ${mostAtOnce(trainings)}) over ${intervals.length} activities; ` +
      `duplicates ${duplicates.length}`,
  );
  expect(failed).toEqual([]);
  expect(duplicates).toEqual([]);
  expect(trainings).toHaveLength(PIPELINES);
  expect(mostAtOnce(intervals)).toBeLessThanOrEqual(gpuSlots);
}, 90 * 60_000);
