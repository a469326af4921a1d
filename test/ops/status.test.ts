/**
 * `tuneflow status` and `tuneflow cancel` against the real dev server. A worker runs the workflow
 * code only (no activities), so the pipeline enters preflight and waits on its activity: a
 * running step with one attempt, the rest pending. Then the CLI cancels it.
 */
import * as path from 'node:path';
import { execa } from 'execa';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT } from '../../lib/artifacts';
import { PIPELINE_STEPS } from '../../lib/pipeline';
import { TASK_QUEUES } from '../../lib/task-queues';
import { startPipeline } from '../../client/start';
import { PipelineStatus } from '../../client/status/pipeline';
import { startTemporal } from '../helpers/environment';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startTemporal();
});

afterAll(async () => {
  await env?.teardown();
});

function cli(args: string[]) {
  return execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), args, { env: { TEMPORAL_ADDRESS: env.address }, reject: false });
}

async function statusJson(pipelineId: string): Promise<PipelineStatus> {
  const run = await cli(['status', pipelineId, '--json']);
  expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
  return PipelineStatus.parse(JSON.parse(run.stdout));
}

test('status shows the DAG with state, attempts and duration; cancel --json cancels it', async () => {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUES.cpu,
    workflowsPath: path.join(REPO_ROOT, 'workflows', 'index.ts'),
  });
  const pipelineId = `status-test-${Date.now()}`;
  await worker.runUntil(async () => {
    const handle = await startPipeline(env.client, { name: 'status-test', data: { input: '/data/status-test.tsv' } }, { workflowId: pipelineId });

    let running: PipelineStatus | null = null;
    const deadline = Date.now() + 30_000;
    while (running?.steps[0].attempts !== 1) {
      if (Date.now() > deadline) throw new Error(`preflight of ${pipelineId} did not start an activity within 30 s: ${JSON.stringify(running)}`);
      running = await statusJson(pipelineId);
    }
    expect(running).toMatchObject({ pipelineId, status: 'RUNNING', currentStep: 'preflight' });
    expect(running.steps.map((s) => s.step)).toEqual([...PIPELINE_STEPS]);
    expect(running.steps[0]).toMatchObject({ state: 'running', attempts: 1, activity: 'preflight of status-test: input, model, MLflow, storage, GPU workers', heartbeat: null });
    expect(running.steps[0].durationMs).toBeGreaterThanOrEqual(0);
    for (const later of running.steps.slice(1)) expect(later).toMatchObject({ state: 'pending', attempts: null, durationMs: null });

    const text = await cli(['status', pipelineId]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${pipelineId}: RUNNING  http`));
    expect(text.stdout).toMatch(/^ {2}preflight +running +1 +\d+s$/m);
    expect(text.stdout).toContain('      activity: preflight of status-test: input, model, MLflow, storage, GPU workers\n->clean');
    expect(text.stdout).toMatch(/^->summarize +pending +- +-$/m);

    const cancelled = await cli(['cancel', pipelineId, '--json']);
    expect({ exitCode: cancelled.exitCode, stderr: cancelled.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(JSON.parse(cancelled.stdout)).toEqual({ pipelineId, cancelRequested: true });
    await expect(handle.result()).rejects.toThrow();

    const after = await statusJson(pipelineId);
    expect(after.status).toBe('CANCELLED');
    expect(after.steps[0]).toMatchObject({ state: 'cancelled', attempts: 1 });
    expect(after.steps[0].durationMs).toBeGreaterThanOrEqual(0);
  });
});

test('status of an unknown pipeline fails and names it', async () => {
  const run = await cli(['status', 'no-such-pipeline', '--json']);
  expect(run.exitCode).toBe(1);
  expect(run.stderr).toContain('no-such-pipeline');
});
