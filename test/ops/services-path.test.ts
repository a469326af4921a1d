/**
 * scripts/services.sh from a checkout whose path has a space in it: the repo reached through a
 * symlink named with a space, a state folder with a space, ports of its own (so the shared test
 * servers are left alone). The Temporal dev server (the quicker of the two to start; both are
 * started by the same code, from an argv array) starts, answers, reports healthy, and stops.
 */
import * as path from 'node:path';
import { rm, stat, symlink } from 'node:fs/promises';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { freePort } from '../../lib/python-step';
import { TEMPORAL_BIN, tempDir } from '../helpers/environment';

let dir: string;
let stateDir: string;
let address: string;
let services: (action: string) => ReturnType<typeof execa>;

beforeAll(async () => {
  dir = await tempDir('services-path');
  const repo = path.join(dir, 'repo with space');
  await symlink(REPO_ROOT, repo);
  const [port, uiPort] = [await freePort(), await freePort()];
  address = `127.0.0.1:${port}`;
  stateDir = path.join(dir, 'state dir');
  const env = { TUNEFLOW_STATE_DIR: stateDir, TUNEFLOW_TEMPORAL_PORT: String(port), TUNEFLOW_TEMPORAL_UI_PORT: String(uiPort) };
  services = (action) => execa('bash', [path.join(repo, 'scripts', 'services.sh'), action, 'temporal'], { env, reject: false, all: true });
});

afterAll(async () => {
  await services?.('stop');
  await rm(dir, { recursive: true, force: true });
});

const health = () => execa(TEMPORAL_BIN, ['operator', 'cluster', 'health', '--address', address, '--command-timeout', '2s'], { reject: false });

test('the Temporal dev server starts and stops from a repo path with a space', async () => {
  const started = await services('start');
  expect(started.all).toMatch(/temporal: healthy after \d+s/);
  expect(started.exitCode).toBe(0);
  expect((await health()).exitCode).toBe(0);
  // Its database went where the state folder (with its space) says.
  expect((await stat(path.join(stateDir, 'temporal.db'))).isFile()).toBe(true);
  expect((await services('status')).exitCode).toBe(0);

  const stopped = await services('stop');
  expect(stopped.all).toContain('temporal: stopped');
  expect((await health()).exitCode).not.toBe(0);
  expect((await services('status')).exitCode).toBe(1);
});
