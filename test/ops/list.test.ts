/**
 * `tuneflow list`: pipelines found through Temporal visibility by the search attributes the
 * pipeline upserts. A worker runs the workflow code only (no activities), on its own task queue,
 * so the pipeline upserts TuneflowStep = "preflight" and then waits on its first activity.
 */
import * as path from 'node:path';
import { execa } from 'execa';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT } from '../../lib/artifacts';
import { fineTunePipeline } from '../../workflows/finetune-pipeline';
import { PipelineFilter, listPipelines, visibilityQuery, type PipelineListEntry } from '../../client/pipelines';
import { startTemporal } from '../helpers/environment';

const WORKFLOW_QUEUE = 'ops-list-test';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startTemporal();
});

afterAll(async () => {
  await env?.teardown();
});

test('the visibility query names the workflow type and each filter', () => {
  expect(visibilityQuery(PipelineFilter.parse({ step: 'train', status: 'Running', model: 't5-small' }))).toBe(
    'WorkflowType = "fineTunePipeline" AND TuneflowStep = "train" AND TuneflowModel = "t5-small" AND ExecutionStatus = "Running"',
  );
  expect(PipelineFilter.safeParse({ step: 'training' }).error?.issues[0].path).toEqual(['step']);
  expect(PipelineFilter.safeParse({ model: 'x" OR WorkflowType = "y' }).error?.issues[0].message).toBe('must not contain quotes or backslashes');
});

test('a running pipeline is found by TuneflowStep = "preflight", by the API and the CLI', async () => {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: WORKFLOW_QUEUE,
    workflowsPath: path.join(REPO_ROOT, 'workflows', 'index.ts'),
  });
  const pipelineId = `list-test-${Date.now()}`;
  const found = await worker.runUntil(async () => {
    await env.client.workflow.start(fineTunePipeline, {
      taskQueue: WORKFLOW_QUEUE,
      workflowId: pipelineId,
      args: [{ config: { name: 'list-test', model: { nameOrPath: 't5-small' } } }],
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const entries = await listPipelines(env.client, PipelineFilter.parse({ step: 'preflight' }));
      const entry = entries.find((e) => e.pipelineId === pipelineId);
      if (entry) return entry;
      if (Date.now() > deadline) throw new Error(`pipeline ${pipelineId} not listed with TuneflowStep = "preflight" within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  });
  expect(found).toMatchObject({ pipelineId, status: 'RUNNING', step: 'preflight', model: 't5-small', rougeL: null, closedAt: null });
  expect(await listPipelines(env.client, PipelineFilter.parse({ step: 'train' }))).toEqual([]);

  const cli = await execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), ['list', '--step', 'preflight', '--json'], {
    env: { TEMPORAL_ADDRESS: env.address },
    reject: false,
  });
  expect({ exitCode: cli.exitCode, stderr: cli.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect((JSON.parse(cli.stdout) as PipelineListEntry[]).map((e) => e.pipelineId)).toEqual([pipelineId]);

  const badStep = await execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), ['list', '--step', 'training'], {
    env: { TEMPORAL_ADDRESS: env.address },
    reject: false,
  });
  expect(badStep.exitCode).not.toBe(0);
  expect(badStep.stderr).toContain('invalid options for tuneflow list:\n  --step: Invalid option: expected one of');
});
