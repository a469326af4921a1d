/**
 * docker/temporal/setup-namespace.sh (the compose deployment's temporal-setup service) against a
 * real Temporal dev server started without tuneflow's namespace and search attributes: it creates
 * them, and running it again (every `docker compose up` does) changes nothing and succeeds.
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { REPO_ROOT } from '../../lib/artifacts';
import { SEARCH_ATTRIBUTES } from '../../lib/pipeline';
import { TEMPORAL_BIN } from '../helpers/environment';

const SCRIPT = path.join(REPO_ROOT, 'docker', 'temporal', 'setup-namespace.sh');
const NAMESPACE = 'tuneflow-compose';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: TEMPORAL_BIN }, ip: '127.0.0.1' },
  });
});

afterAll(async () => {
  await env?.teardown();
});

async function customAttributes(): Promise<Record<string, string>> {
  const { customAttributes: attrs } = await env.connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
  return Object.fromEntries(
    Object.entries(attrs ?? {}).map(([name, type]) => [name, temporal.api.enums.v1.IndexedValueType[type]]),
  );
}

test('setup-namespace.sh registers the pipeline search attributes, idempotently', async () => {
  const compose = parseYaml(await readFile(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { environment: Record<string, string> }>;
  };
  const scriptEnv = {
    ...compose.services['temporal-setup'].environment,
    TEMPORAL_ADDRESS: env.address,
    // A namespace the dev server does not have, so the script's create path runs too.
    TEMPORAL_NAMESPACE: NAMESPACE,
    // The admin-tools image has `temporal` on its PATH; here it is the one in .venv.
    PATH: `${path.dirname(TEMPORAL_BIN)}:${process.env.PATH}`,
  };
  await expect(customAttributes()).rejects.toThrow(/not found/i);

  // dash: the admin-tools image runs the script with a POSIX sh, not bash.
  for (const run of ['first', 'second']) {
    const result = await execa('dash', [SCRIPT], { env: scriptEnv, reject: false, all: true });
    expect({ run, exitCode: result.exitCode, output: result.all }).toEqual({
      run,
      exitCode: 0,
      output: expect.stringContaining('search attribute TuneflowStep (Keyword) is registered'),
    });
  }

  const { namespaceInfo, config } = await env.connection.workflowService.describeNamespace({ namespace: NAMESPACE });
  expect(namespaceInfo?.name).toBe(NAMESPACE);
  expect(Number(config?.workflowExecutionRetentionTtl?.seconds)).toBe(720 * 3600);
  const registered = await customAttributes();
  for (const key of Object.values(SEARCH_ATTRIBUTES)) {
    expect([key.name, registered[key.name]]).toEqual([key.name, `INDEXED_VALUE_TYPE_${key.type}`]);
  }
});
