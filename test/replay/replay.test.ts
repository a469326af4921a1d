/**
 * Determinism guard: every committed history must replay on the current workflow code. A change
 * that breaks one needs `patched()` or a deliberate re-recording (TUNEFLOW_RECORD_HISTORY=1).
 */
import * as path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThan(0);
});

test.each(files)('%s replays deterministically', async (file) => {
  const history: unknown = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  await Worker.runReplayHistory(
    { workflowsPath: require.resolve('../../workflows'), replayName: file },
    history,
    path.basename(file, '.json'),
  );
});
