/**
 * How a workflow change is versioned with `patched` / `deprecatePatch` (after the
 * temporalio/samples-typescript patching-api sample), on the real dev server: each version of a
 * tiny workflow in patching/ records a history there, and the next version replays it.
 *
 * From now on patches are for changes after a release tag. Until tuneflow is released nobody runs
 * its histories but this repository, so a change to the workflows re-records
 * test/replay/histories instead (replay.test.ts). Once a release tag exists, a change that alters
 * the commands a released workflow issues goes through these steps: v2 with `patched(id)` and
 * both branches, v3 with `deprecatePatch(id)` once no run from before the patch is open, and the
 * new code alone once every open run was started on v3.
 */
import { Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { WorkflowHandle } from '@temporalio/client';
import * as activities from './patching/activities';
import { startTemporal } from '../helpers/environment';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
const VERSIONS = ['v1-original', 'v2-patched', 'v3-deprecated', 'v4-final'] as const;
type Version = (typeof VERSIONS)[number];

let env: TestWorkflowEnvironment;
const bundles = new Map<Version, WorkflowBundle>();

beforeAll(async () => {
  const [started, ...bundled] = await Promise.all([
    startTemporal(),
    ...VERSIONS.map((version) => bundleWorkflowCode({ workflowsPath: require.resolve(`./patching/${version}`) })),
  ]);
  env = started;
  VERSIONS.forEach((version, i) => bundles.set(version, bundled[i]));
});

afterAll(async () => {
  await env?.teardown();
});

/** Runs the workflow once on `version`'s code and returns the server's history of that run. */
async function record(version: Version): Promise<History> {
  const taskQueue = `patching-${version}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: bundles.get(version)!,
    activities,
  });
  const workflowId = `notify-${version}`;
  await worker.runUntil(env.client.workflow.execute('notifyCustomer', { taskQueue, workflowId, args: ['Ada'] }));
  return env.client.workflow.getHandle(workflowId).fetchHistory();
}

function replay(version: Version, history: History, recordedOn: Version): Promise<void> {
  return Worker.runReplayHistory({ workflowBundle: bundles.get(version)!, replayName: `${recordedOn} on ${version}` }, history);
}

test('a run started on v1 replays on v2, which patches the change, and breaks on the unpatched change', async () => {
  const v1 = await record('v1-original');
  await replay('v2-patched', v1, 'v1-original');
  await expect(replay('v4-final', v1, 'v1-original')).rejects.toThrow(DeterminismViolationError);
});

test('a run started on v2 replays on v3 (deprecatePatch), and one started on v3 on the final code', async () => {
  const [v2, v3] = await Promise.all([record('v2-patched'), record('v3-deprecated')]);
  await replay('v3-deprecated', v2, 'v2-patched');
  await replay('v4-final', v3, 'v3-deprecated');
});
