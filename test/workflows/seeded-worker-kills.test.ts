/**
 * `npm run soak` only (TUNEFLOW_SOAK=1): tiny pipelines one after another, each with its CPU or
 * its GPU worker SIGKILLed at a seeded random moment (a step drawn from the pipeline's, then up to
 * 8 s into it) and replaced at once, as a supervisor restarts a crashed worker. Every run must
 * complete, with nothing duplicated (cleaned rows, summaries, MLflow runs) and exactly one model
 * version. TUNEFLOW_SOAK_RUNS (10) and TUNEFLOW_SOAK_SEED (19) set the count and the draw; the
 * figures are printed as a table (docs/reliability.md).
 *
 * Workers are production processes (bin/ts-run workers/*-worker.ts); a killed worker's attempt is
 * retried once the server notices it is gone (its heartbeat timeout: train.heartbeatTimeoutSeconds
 * 10 s here, 2 min for evaluate and the summarize shards, 5 min for the light CPU steps).
 */
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { fineTunePipeline } from '../../workflows/finetune-pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { PIPELINE_STEPS, PipelineResult, SEARCH_ATTRIBUTES } from '../../lib/pipeline';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';
import { startWorkerProcess, stopWorkerProcess, type WorkerKind, type WorkerProcess } from '../helpers/worker-processes';
import { duplicatedOutputs } from '../helpers/pipeline-outputs';
import { retriedActivities } from '../helpers/history-figures';
import { mulberry32 } from '../../lib/seeded-random';

const SOAK = process.env.TUNEFLOW_SOAK === '1';
const RUNS = Number(process.env.TUNEFLOW_SOAK_RUNS ?? '10');
const SEED = Number(process.env.TUNEFLOW_SOAK_SEED ?? '19');
/** TuneflowStep's values in order: the pipeline's steps, then the report. */
const MOMENTS = [...PIPELINE_STEPS, 'report'] as const;

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };
const workers: Partial<Record<WorkerKind, WorkerProcess>> = {};

beforeAll(async () => {
  if (!SOAK) return;
  workDir = await tempDir('worker-kills');
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(workDir, 1200, 30)]);
  for (const kind of ['cpu', 'gpu'] as const) workers[kind] = startWorkerProcess(kind, env.address);
  await Promise.all(Object.values(workers).map((w) => w.polling));
});

afterAll(async () => {
  await Promise.all(Object.values(workers).map(stopWorkerProcess));
  await env?.teardown();
});

/** Waits until the pipeline reaches `moment` (or a later one), then `offsetMs` more; false if it ended first. */
async function reach(handle: WorkflowHandle, moment: (typeof MOMENTS)[number], offsetMs: number): Promise<boolean> {
  for (;;) {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') return false;
    const current = description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.step) as (typeof MOMENTS)[number] | undefined;
    if (current !== undefined && MOMENTS.indexOf(current) >= MOMENTS.indexOf(moment)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, offsetMs));
  return (await handle.describe()).status.name === 'RUNNING';
}

function rowFigures(result: PipelineResult): string {
  const { kept, read } = result.clean.counts;
  return `${kept}/${read}, ${result.split.trainRows} + ${result.split.validationRows}, ${result.summaries.products.rows} summaries`;
}

interface RunFigures {
  run: number;
  killed: string;
  seconds: number;
  completed: boolean;
  retried: string;
  /** `kept/read` by clean, then train, validation and summary rows: the same in every run, or rows were lost. */
  rows: string;
  duplicates: string;
}

(SOAK ? test : test.skip)(`${RUNS} tiny pipelines, a worker SIGKILLed in each at a seeded moment: all complete, nothing duplicated, one version each`, async () => {
  const random = mulberry32(SEED);
  const figures: RunFigures[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const victim: WorkerKind = random() < 0.5 ? 'cpu' : 'gpu';
    const moment = MOMENTS[Math.floor(random() * MOMENTS.length)];
    const offsetMs = Math.floor(random() * 8000);
    const stamp = Date.now();
    const handle = await env.client.workflow.start(fineTunePipeline, {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: `kills-${run}-${stamp}`,
      args: [
        {
          config: {
            name: 'worker-kills-soak',
            data: { input: fixture.data, category: 'Camera' },
            model: { nameOrPath: fixture.model, maxSourceLength: 128, maxTargetLength: 24 },
            train: { epochs: 1, maxSteps: 30, perDeviceTrainBatchSize: 16, checkpointEverySteps: 10, loggingSteps: 5, heartbeatTimeoutSeconds: 10 },
            evaluate: { maxSamples: 40, maxNewTokens: 12 },
            summarize: { minReviews: 10, numBeams: 2, minNewTokens: 4, maxNewTokens: 12, perReview: false, latencySamples: 0 },
            register: { modelName: `tuneflow-kills-${run}-${stamp}` },
            storage: { root: path.join(workDir, 'runs') },
            mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
          },
        },
      ],
    });
    let killed = `${victim} worker at ${moment} + ${offsetMs} ms`;
    if (await reach(handle, moment, offsetMs)) {
      const doomed = workers[victim]!;
      doomed.process.kill('SIGKILL');
      await doomed.process;
      workers[victim] = startWorkerProcess(victim, env.address);
      await workers[victim].polling;
    } else {
      killed += ' (not killed: the pipeline had finished)';
    }
    const outcome = await handle.result().then(
      (value) => ({ result: PipelineResult.parse(value), error: null }),
      (error: unknown) => ({ result: null, error: String(error) }),
    );
    const figure: RunFigures = {
      run,
      killed,
      seconds: Math.round((Date.now() - stamp) / 1000),
      completed: outcome.result !== null,
      retried:
        [
          ...(await retriedActivities(handle)),
          ...(await retriedActivities(env.client.workflow.getHandle(`${handle.workflowId}-summarize`)).catch(() => [])),
        ].join(', ') || '-',
      rows: outcome.result ? rowFigures(outcome.result) : '-',
      duplicates: outcome.result ? (await duplicatedOutputs(outcome.result)).join('; ') || '0' : `failed: ${outcome.error}`,
    };
    console.log(`run ${run}/${RUNS}: ${JSON.stringify(figure)}`);
    figures.push(figure);
  }
  console.log(
    [`seed ${SEED}, ${RUNS} runs`, '| run | killed | s | completed | retried | rows | duplicates |', '| --- | --- | --- | --- | --- | --- | --- |']
      .concat(figures.map((f) => `| ${f.run} | ${f.killed} | ${f.seconds} | ${f.completed} | ${f.retried} | ${f.rows} | ${f.duplicates} |`))
      .join('\n'),
  );
  expect(figures.filter((f) => !f.completed || f.duplicates !== '0')).toEqual([]);
  // The same input and config every time: any run with fewer rows somewhere lost them.
  expect(new Set(figures.map((f) => f.rows)).size).toBe(1);
}, RUNS * 20 * 60_000);
