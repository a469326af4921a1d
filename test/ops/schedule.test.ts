/**
 * Scheduled retraining on a real Temporal dev server. No worker runs: a pipeline the schedule
 * starts stays Running at its first workflow task, which is all these tests need to see (that
 * it exists, on which queue, with which input).
 */
import * as path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { REPO_ROOT } from '../../lib/artifacts';
import { parseConfig } from '../../lib/config';
import { TASK_QUEUES } from '../../lib/task-queues';
import {
  ScheduleRequest,
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  triggerSchedule,
  type ScheduleRequestInput,
} from '../../client/schedules';
import { startTemporal, tempDir } from '../helpers/environment';

const CONFIG_YAML = `
name: nightly-camera
data:
  input: /data/reviews.tsv.gz
  category: Camera
model:
  nameOrPath: t5-small
train:
  epochs: 2
`;

let env: TestWorkflowEnvironment;
let dir: string;
let configFile: string;

beforeAll(async () => {
  [env, dir] = await Promise.all([startTemporal(), tempDir('schedule')]);
  configFile = path.join(dir, 'nightly.yaml');
  await writeFile(configFile, CONFIG_YAML);
});

afterAll(async () => {
  await env?.teardown();
});

function request(input: Omit<ScheduleRequestInput, 'configFile'> & { configFile?: string }): ScheduleRequest {
  return ScheduleRequest.parse({ configFile, ...input });
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs the real CLI against the test server. */
function cli(args: string[]) {
  return execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), args, {
    env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
    reject: false,
  });
}

test('an invalid config file is rejected at creation, with the field and the reason', async () => {
  const bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, 'train:\n  perDeviceTrainBatchSize: 0\n');
  await expect(createSchedule(env.client, request({ scheduleId: 'bad-config', configFile: bad, every: '1h' }))).rejects.toThrow(
    /invalid config .*bad\.yaml:\ntrain\.perDeviceTrainBatchSize: Too small/,
  );
  await expect(describeSchedule(env.client, 'bad-config')).rejects.toThrow('no schedule bad-config in this namespace');
});

test('schedule options are validated: exactly one of cron and every, durations with units', () => {
  expect(ScheduleRequest.safeParse({ scheduleId: 's', configFile, cron: '0 2 * * *', every: '1d' }).error?.issues[0].message).toMatch(
    /exactly one of cron .* or every/,
  );
  expect(ScheduleRequest.safeParse({ scheduleId: 's', configFile }).success).toBe(false);
  expect(ScheduleRequest.safeParse({ scheduleId: 's', configFile, every: '10' }).error?.issues[0].path).toEqual(['every']);
});

test('create defaults to overlap SKIP; trigger starts a pipeline with the config from the file', async () => {
  const created = await createSchedule(env.client, request({ scheduleId: 'nightly', cron: '0 2 * * *' }));
  expect(created).toMatchObject({
    scheduleId: 'nightly',
    paused: false,
    cron: '0 2 * * *',
    timezone: 'UTC',
    overlap: 'SKIP',
    pauseOnFailure: true,
    catchupWindowMs: 24 * 3600 * 1000,
    configFile,
    taskQueue: TASK_QUEUES.cpu,
  });
  const expectedConfig = parseConfig(parseYaml(CONFIG_YAML));
  expect(created.config).toEqual(expectedConfig);
  expect(new Date(created.nextRuns[0]).getUTCHours()).toBe(2);

  const triggered = await triggerSchedule(env.client, 'nightly');
  expect(triggered.skipped).toBe(false);
  const handle = env.client.workflow.getHandle(triggered.workflowId!);
  const description = await handle.describe();
  expect(description).toMatchObject({ type: 'fineTunePipeline', taskQueue: TASK_QUEUES.cpu, status: { name: 'RUNNING' } });
  // What the Temporal UI shows under User Metadata: which schedule, config file, model and data.
  expect(await description.staticSummary()).toBe(
    `scheduled nightly: fine-tune ${expectedConfig.model.nameOrPath} on ${expectedConfig.data.input}`,
  );
  const details = await description.staticDetails();
  for (const line of [
    `**config file** \`${configFile}\``,
    '**schedule** `nightly`',
    `**model** \`${expectedConfig.model.nameOrPath}\``,
    `**data** \`${expectedConfig.data.input}\``,
  ]) {
    expect(details).toContain(line);
  }
  const history = await handle.fetchHistory();
  const input = history.events?.[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  expect(defaultPayloadConverter.fromPayload(input!)).toEqual({ config: expectedConfig });

  // The first run is still going (no worker), so SKIP does not start a second one.
  expect(await triggerSchedule(env.client, 'nightly')).toEqual({ scheduleId: 'nightly', workflowId: null, skipped: true });
  expect((await describeSchedule(env.client, 'nightly')).runningWorkflowIds).toEqual([triggered.workflowId]);
});

test('a short interval runs by itself; pause stops further runs; delete removes the schedule', async () => {
  // ALLOW_ALL: with no worker every run stays open, and SKIP would hold back all but the first.
  await createSchedule(env.client, request({ scheduleId: 'every-second', every: '1s', overlap: 'ALLOW_ALL' }));
  await until('two scheduled runs', async () => (await describeSchedule(env.client, 'every-second')).runsTaken >= 2);

  const paused = await pauseSchedule(env.client, 'every-second', 'test pause');
  expect(paused).toMatchObject({ paused: true, note: 'test pause' });
  // A run already being started when the pause landed may still be counted: settle, then count.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const taken = (await describeSchedule(env.client, 'every-second')).runsTaken;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect((await describeSchedule(env.client, 'every-second')).runsTaken).toBe(taken);

  await deleteSchedule(env.client, 'every-second');
  await expect(describeSchedule(env.client, 'every-second')).rejects.toThrow('no schedule every-second in this namespace');
  await expect(deleteSchedule(env.client, 'every-second')).rejects.toThrow('no schedule every-second');
  await until('the deleted schedule to leave the list', async () =>
    (await listSchedules(env.client)).every((s) => s.scheduleId !== 'every-second'),
  );
});

test('the CLI creates, lists and describes schedules with --json, and explains bad options', async () => {
  const created = await cli(['schedule', 'create', 'weekly', '--config', configFile, '--every', '7d', '--paused', '--json']);
  expect({ exitCode: created.exitCode, stderr: created.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(JSON.parse(created.stdout)).toMatchObject({ scheduleId: 'weekly', every: '7d', paused: true, overlap: 'SKIP' });

  const listed = await until('weekly in schedule list --json', async () => {
    const result = await cli(['schedule', 'list', '--json']);
    const items = JSON.parse(result.stdout) as { scheduleId: string; paused: boolean }[];
    return items.find((s) => s.scheduleId === 'weekly');
  });
  expect(listed.paused).toBe(true);

  const described = await cli(['schedule', 'describe', 'weekly', '--json']);
  expect(JSON.parse(described.stdout)).toMatchObject({ scheduleId: 'weekly', config: parseConfig(parseYaml(CONFIG_YAML)) });

  const bad = await cli(['schedule', 'create', 'broken', '--config', configFile, '--cron', '0 2 * * *', '--every', '1d']);
  expect(bad.exitCode).not.toBe(0);
  expect(bad.stderr).toContain('invalid options for tuneflow schedule create:\n  --cron: give exactly one of cron');
});
