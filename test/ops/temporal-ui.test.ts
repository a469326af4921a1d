/**
 * The Temporal Web UI shows a running training: a real dev server with its UI, a pipeline on real
 * workers (tiny T5 on generated reviews, more steps than the test waits for), and Debian's
 * chromium driven by playwright-core (scripts/install-chromium.sh; never a Playwright download).
 * A person searches `TuneflowStep="train"`, opens the pipeline and sees its step and progress;
 * the screenshot stays under test-artifacts/.
 */
import * as path from 'node:path';
import { access, mkdir, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { execa } from 'execa';
import { chromium, type Browser } from 'playwright-core';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { freePort } from '../../lib/python-step';
import type { StepHeartbeat } from '../../lib/python-step/protocol';
import { startPipeline } from '../../client/start';
import { PipelineStatus } from '../../client/status/pipeline';
import { REPO_ROOT } from '../../lib/artifacts';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';

const CHROMIUM = process.env.TUNEFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'temporal-ui');
/** Far more optimizer steps than the test waits for: training is still running when the browser looks. */
const MAX_STEPS = 100_000;

let env: TestWorkflowEnvironment;
let uiUrl: string;
let workDir: string;
let fixture: { data: string; model: string };
let browser: Browser | undefined;

beforeAll(async () => {
  await access(CHROMIUM, constants.X_OK).catch(() => {
    throw new Error(`no Chromium at ${CHROMIUM}: run \`bash scripts/install-chromium.sh\` (npm test does) or set TUNEFLOW_CHROMIUM`);
  });
  // A failure screenshot from an earlier run would describe a run that is not this one.
  await rm(path.join(ARTIFACTS, 'failed.png'), { force: true });
  const uiPort = await freePort();
  uiUrl = `http://127.0.0.1:${uiPort}`;
  workDir = await tempDir('temporal-ui');
  [env, fixture, browser] = await Promise.all([
    startTemporal({ uiPort }),
    demoFixture(workDir, 200, 8),
    chromium.launch({ executablePath: CHROMIUM }),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await env?.teardown();
});

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('the UI finds the running training by TuneflowStep = "train" and shows its step and progress', async () => {
  const pipelineId = `ui-test-${Date.now()}`;
  const cpuWorker = await createCpuWorker(env.nativeConnection, env.namespace ?? 'default');
  const gpuWorker = await createGpuWorker(env.nativeConnection, env.namespace ?? 'default', { count: 0, names: [] });
  // A fixed name: each run replaces the last, and CI can collect it by path.
  const shotPath = path.join(ARTIFACTS, 'running-training.png');

  const running = async () => {
    const handle = await startPipeline(
      env.client,
      {
        name: 'ui-test',
        data: { input: fixture.data, category: 'Camera' },
        model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
        train: { maxSteps: MAX_STEPS, perDeviceTrainBatchSize: 4, loggingSteps: 1, checkpointEverySteps: MAX_STEPS },
        register: { modelName: `tuneflow-ui-test-${Date.now()}` },
        storage: { root: path.join(workDir, 'runs') },
        mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
      },
      { workflowId: pipelineId },
    );
    try {
      // The training has reported a step: its heartbeat (what the UI shows) carries progress.
      const progress = await waitFor(
        'a training heartbeat with progress',
        async () => {
          const pending = (await handle.describe()).raw.pendingActivities ?? [];
          const payload = pending.find((a) => a.activityType?.name === 'train')?.heartbeatDetails?.payloads?.[0];
          const heartbeat = payload ? defaultPayloadConverter.fromPayload<StepHeartbeat>(payload) : null;
          return heartbeat?.progress && heartbeat.progress.step > 0 ? heartbeat.progress : null;
        },
        240_000,
      );
      expect(progress).toMatchObject({ unit: 'steps', totalSteps: MAX_STEPS });

      const page = await browser!.newPage({ viewport: { width: 1440, height: 1100 } });
      try {
        // The search a person types into the workflow list, as the list's URL carries it.
        await page.goto(`${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent('TuneflowStep="train"')}`);
        const row = page.getByRole('link', { name: pipelineId, exact: true });
        await row.waitFor({ timeout: 60_000 });
        await row.click();
        await page.waitForURL(new RegExp(`/workflows/${pipelineId}/[0-9a-f-]+/`), { timeout: 30_000 });

        // The timeline names each activity with its summary: the running one is the training.
        await page.getByText(/train • train .+ on \d+ rows/).first().waitFor({ timeout: 30_000 });
        // The workflow's static summary and details (the UI renders each as Markdown in a frame).
        await page.getByTestId('user-metadata-tab').click();
        await page
          .frameLocator('#user-metadata-summary')
          .getByText(`fine-tune ${fixture.model} on ${fixture.data}`)
          .waitFor({ timeout: 30_000 });
        await page.frameLocator('#user-metadata-details').getByText(fixture.data).waitFor({ timeout: 30_000 });
        await page.getByTestId('search-attributes-tab').click();
        await page.getByText('TuneflowStep').first().waitFor({ timeout: 30_000 });
        expect(await page.locator('body').innerText()).toMatch(/"TuneflowStep": "train"/);
        // The pending training and its heartbeat: step of total, loss, throughput, ETA.
        await page.getByTestId('pending-activities-tab').click();
        await page.getByText(`"totalSteps": ${MAX_STEPS}`).first().waitFor({ timeout: 30_000 });
        const pending = await page.locator('body').innerText();
        expect(pending).toMatch(/STARTED\s+train\b/);
        for (const field of ['"step": "train"', '"loss": ', '"samplesPerSec": ', '"etaSeconds": ']) expect(pending).toContain(field);
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: shotPath, fullPage: true });
        console.log(`Temporal UI screenshot: ${shotPath}`);
      } catch (err) {
        // What the browser saw when it failed, for whoever reads the CI artifacts.
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACTS, 'failed.png'), fullPage: true });
        throw err;
      }

      // The CLI reads the same pipeline: the DAG with finished steps, the running training and its progress.
      const cli = await execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), ['status', pipelineId, '--json'], {
        env: { TEMPORAL_ADDRESS: env.address },
        reject: false,
      });
      expect({ exitCode: cli.exitCode, stderr: cli.stderr }).toEqual({ exitCode: 0, stderr: '' });
      const status = PipelineStatus.parse(JSON.parse(cli.stdout));
      expect(status).toMatchObject({ status: 'RUNNING', currentStep: 'train' });
      expect(status.steps.map((s) => [s.step, s.state])).toEqual([
        ['preflight', 'completed'],
        ['clean', 'completed'],
        ['split', 'completed'],
        ['train', 'running'],
        ['evaluate', 'pending'],
        ['register', 'pending'],
        ['summarize', 'pending'],
      ]);
      for (const done of status.steps.slice(0, 3)) expect(done).toMatchObject({ attempts: 1, durationMs: expect.any(Number) });
      const train = status.steps[3];
      expect(train).toMatchObject({ attempts: 1, activity: expect.stringMatching(/^train .+ on \d+ rows$/) });
      expect(train.heartbeat?.progress).toMatchObject({ unit: 'steps', totalSteps: MAX_STEPS, loss: expect.any(Number) });
    } finally {
      await handle.cancel();
      await handle.result().catch((err: unknown) => {
        if (!(err instanceof WorkflowFailedError)) throw err;
      });
    }
  };
  await cpuWorker.runUntil(gpuWorker.runUntil(running));
  await access(shotPath);
});
