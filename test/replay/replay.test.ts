/**
 * Determinism guard: every committed history must replay on the current workflow code. Until
 * tuneflow's first release tag, a change that breaks one re-records them: delete
 * test/replay/histories/*.json and run test/workflows/finetune-pipeline.test.ts and
 * durable-training.test.ts (a retried train, a cancelled run) with
 * TUNEFLOW_RECORD_HISTORY=finetune-pipeline, and bulk-summarize.test.ts (continue-as-new: its
 * first run and its last) with TUNEFLOW_RECORD_HISTORY=bulk-summarize. After a
 * release, a change that breaks a released history needs `patched()` (patching.test.ts shows how).
 */
import * as path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThan(0);
});

/** The recorded run's workflow id: ids derived from it (a child's `<id>-summarize`) must match on replay. */
function recordedWorkflowId(history: unknown, file: string): string {
  const started = history as { events?: { workflowExecutionStartedEventAttributes?: { workflowId?: string } }[] };
  const workflowId = started.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId;
  if (!workflowId) throw new Error(`${file}: its first event names no workflowId; record it again with TUNEFLOW_RECORD_HISTORY`);
  return workflowId;
}

test.each(files)('%s replays deterministically', async (file) => {
  const history: unknown = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  await Worker.runReplayHistory(
    { workflowsPath: require.resolve('../../workflows'), replayName: file },
    history,
    recordedWorkflowId(history, file),
  );
});
