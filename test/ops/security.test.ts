/**
 * Security of a real run: payload encryption (lib/payload-codec.ts on the CLI, both workers and
 * `tuneflow codec-server`), secrets kept out of the history, loopback listeners, subprocesses
 * without a shell. One dev server, one worker pair and one tiny pipeline, shared by every case:
 * it starts through `tuneflow run --wait` with the codec on (two keys, encrypting with the newer)
 * and fake secrets in the environment of the CLI, the workers and their Python steps. A second
 * pipeline, started by a client still encrypting with the older key (rotation), fails cheaply in
 * its preflight (a missing input), for encoded failures. While both run, the listening sockets of
 * the whole stack and the raw heartbeats of running activities are sampled.
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, mkdir, writeFile, access } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { stringify } from 'yaml';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { startPipeline } from '../../client/start';
import { PipelineStatus } from '../../client/status/pipeline';
import { REPO_ROOT } from '../../lib/artifacts';
import { parseConfig, type PipelineConfigInput } from '../../lib/config';
import { decodeHistory, type History } from '../../lib/decoded-reads';
import { failureCause } from '../../lib/failure-cause';
import { InvalidConfigError } from '../../lib/failures';
import { EncryptionCodec, KEY_ID_METADATA_KEY, codecSettingsFromEnvironment, tuneflowDataConverter } from '../../lib/payload-codec';
import { freePort } from '../../lib/python-step';
import { stepCommand } from '../../lib/python-step/launch';
import { evaluate } from '../../activities/evaluate';
import { MLFLOW_URI, TEMPORAL_BIN, demoFixture, startTemporal, tempDir } from '../helpers/environment';
import { isLoopback, listenersOf, pidListeningOn, processTree, type Listener } from '../../lib/listening-sockets';

const CODEC_ENV = {
  TUNEFLOW_CODEC_KEYS: `retired:${randomBytes(32).toString('base64')},current:${randomBytes(32).toString('base64')}`,
  TUNEFLOW_CODEC_KEY_ID: 'current',
};
const SECRETS = Object.fromEntries(
  ['MLFLOW_TRACKING_TOKEN', 'HF_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'SOME_API_KEY', 'X_SECRET'].map((name) => [
    name,
    `${name.toLowerCase()}-${randomBytes(12).toString('hex')}`,
  ]),
);
// The workers and their Python steps run in this process: they see these as a deployment's would.
Object.assign(process.env, CODEC_ENV, SECRETS);
const EXPERIMENT = 'tuneflow-tests-security';

const codec = new EncryptionCodec(codecSettingsFromEnvironment(CODEC_ENV)!);
const HistoryProto = temporal.api.history.v1.History;
const historyBytes = (history: History) => Buffer.from(HistoryProto.encode(history).finish());
const payloadsBytes = (payloads: temporal.api.common.v1.IPayloads) => Buffer.from(temporal.api.common.v1.Payloads.encode(payloads).finish());

let env: TestWorkflowEnvironment;
let workDir: string;
let fixture: { data: string; model: string };
let client: Client;
let codecServer: { url: string; process: ResultPromise };
const pipelineId = `security-${Date.now()}`;
const failingId = `${pipelineId}-missing-input`;
let missingInput: string;
let runOutput: { run: Awaited<ResultPromise>; status: Awaited<ResultPromise>; failedStatus: Awaited<ResultPromise>; failure: unknown };
/** Every listening socket the stack held while the pipelines ran, by pid:address:port. */
const listeners = new Map<string, Listener>();
/** Raw heartbeat details of running activities, as DescribeWorkflowExecution returned them. */
const rawHeartbeats: temporal.api.common.v1.IPayloads[] = [];
/** Every execution's raw history and description, read after the run. */
let executions: { workflowId: string; raw: History; decoded: History; description: Buffer }[] = [];

function cli(args: string[]) {
  return execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), args, {
    env: { TEMPORAL_ADDRESS: env.address, ...CODEC_ENV, ...SECRETS },
    reject: false,
  });
}

/** The codec server as an operator starts it; resolves once it prints its address. */
async function startCodecServer(): Promise<{ url: string; process: ResultPromise }> {
  const port = await freePort();
  const child = execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), ['codec-server', '--port', String(port)], { env: CODEC_ENV, reject: false, buffer: false });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /codec server on (http:\/\/\S+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    child.then((r) => reject(new Error(`tuneflow codec-server exited (${r.exitCode}): ${seen}`)), reject);
  });
  return { url, process: child };
}

/** Listening sockets of this process's tree (dev server, workers, CLI, Python, codec server) and MLflow's. */
function sampleListeners(mlflowPid: number | null): void {
  for (const listener of listenersOf(processTree([process.pid, ...(mlflowPid ? [mlflowPid] : [])]))) {
    listeners.set(`${listener.pid}:${listener.address}:${listener.port}`, listener);
  }
}

async function sampleHeartbeats(): Promise<void> {
  for (const workflowId of [pipelineId, `${pipelineId}-summarize`, failingId]) {
    const described = await client.workflowService
      .describeWorkflowExecution({ namespace: client.options.namespace, execution: { workflowId } })
      .catch(() => null);
    for (const pending of described?.pendingActivities ?? []) if (pending.heartbeatDetails) rawHeartbeats.push(pending.heartbeatDetails);
  }
}

async function rawHistory(workflowId: string, runId: string): Promise<History> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({ namespace: client.options.namespace, execution: { workflowId, runId }, nextPageToken });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return HistoryProto.create({ events });
}

beforeAll(async () => {
  workDir = await tempDir('security');
  missingInput = path.join(workDir, `missing-reviews-${Date.now()}.tsv`);
  [env, fixture, codecServer] = await Promise.all([startTemporal(), demoFixture(workDir, 200, 8), startCodecServer()]);
  client = new Client({ connection: env.connection, namespace: env.namespace ?? 'default', dataConverter: tuneflowDataConverter() });
  const config: PipelineConfigInput = {
    name: 'security-test',
    data: { input: fixture.data, category: 'Camera' },
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
    train: { maxSteps: 6, perDeviceTrainBatchSize: 4, loggingSteps: 1, checkpointEverySteps: 3 },
    evaluate: { maxSamples: 8, maxNewTokens: 8 },
    summarize: { minReviews: 5, numBeams: 1, minNewTokens: 2, maxNewTokens: 8, perReview: false },
    register: { modelName: `tuneflow-security-${Date.now()}` },
    storage: { root: path.join(workDir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: EXPERIMENT },
  };
  const configFile = path.join(workDir, 'security.yaml');
  await writeFile(configFile, stringify(config));
  // A client from before the rotation: its pipeline's input is encrypted with the retired key.
  const retiredClient = new Client({
    connection: env.connection,
    namespace: env.namespace ?? 'default',
    dataConverter: tuneflowDataConverter(new EncryptionCodec(codecSettingsFromEnvironment({ ...CODEC_ENV, TUNEFLOW_CODEC_KEY_ID: 'retired' })!)),
  });

  const mlflowPid = pidListeningOn(Number(new URL(MLFLOW_URI).port));
  const cpuWorker = await createCpuWorker(env.nativeConnection, env.namespace ?? 'default');
  const gpuWorker = await createGpuWorker(env.nativeConnection, env.namespace ?? 'default', { count: 0, names: [] });
  let running = true;
  const sampler = (async () => {
    while (running) {
      sampleListeners(mlflowPid);
      await sampleHeartbeats();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  })();
  try {
    runOutput = await cpuWorker.runUntil(
      gpuWorker.runUntil(async () => {
        const failing = startPipeline(retiredClient, { ...config, data: { input: missingInput } }, { workflowId: failingId }).then((handle) =>
          handle.result().then(() => null, (err: unknown) => err),
        );
        const run = await cli(['run', '--config', configFile, '--id', pipelineId, '--wait']);
        const failure = await failing;
        // A failed pipeline's status comes from its `progress` query: the workers still run.
        return { run, failure, status: await cli(['status', pipelineId, '--json']), failedStatus: await cli(['status', failingId]) };
      }),
    );
  } finally {
    running = false;
    await sampler;
  }
  const found: { workflowId: string; runId: string }[] = [];
  for await (const info of client.workflow.list()) found.push({ workflowId: info.workflowId, runId: info.runId });
  executions = await Promise.all(
    found.map(async ({ workflowId, runId }) => {
      const raw = await rawHistory(workflowId, runId);
      const description = await client.workflowService.describeWorkflowExecution({ namespace: client.options.namespace, execution: { workflowId, runId } });
      return {
        workflowId,
        raw,
        decoded: await decodeHistory(HistoryProto.decode(HistoryProto.encode(raw).finish()), [codec]),
        description: Buffer.from(temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse.encode(description).finish()),
      };
    }),
  );
});

afterAll(async () => {
  codecServer?.process.kill('SIGTERM');
  await codecServer?.process;
  await env?.teardown();
});

/** Concrete strings of the inputs and outputs: each is in the decoded history, none in the raw one. */
function plaintexts(): Record<string, string> {
  return {
    'data path': fixture.data,
    'model path': fixture.model,
    'storage root': path.join(workDir, 'runs'),
    experiment: EXPERIMENT,
    'missing input (the failure)': missingInput,
  };
}

test('the pipeline ran through the CLI with the codec on; the CLI reads its encrypted history with the keys only', async () => {
  expect({ exitCode: runOutput.run.exitCode, stderr: runOutput.run.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(runOutput.run.stdout).toContain('ROUGE-1 / 2 / L / Lsum');
  expect({ exitCode: runOutput.status.exitCode, stderr: runOutput.status.stderr }).toEqual({ exitCode: 0, stderr: '' });
  const status = PipelineStatus.parse(JSON.parse(String(runOutput.status.stdout)));
  expect(status).toMatchObject({ pipelineId, status: 'COMPLETED' });
  for (const step of status.steps) expect(step.state).toBe('completed');
  expect(runOutput.failedStatus.stdout).toContain(`error: InvalidData in preflight`);
  expect(runOutput.failedStatus.stdout).toContain(missingInput);
  expect(executions.map((e) => e.workflowId).sort()).toEqual([pipelineId, failingId, `${pipelineId}-summarize`].sort());

  const withoutKeys = await execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), ['status', pipelineId], {
    env: { TEMPORAL_ADDRESS: env.address, TUNEFLOW_CODEC_KEYS: '', TUNEFLOW_CODEC_KEY_ID: '' },
    reject: false,
  });
  expect(withoutKeys.exitCode).toBe(1);
  expect(withoutKeys.stderr).toContain('Unknown encoding: binary/encrypted');
  expect(withoutKeys.stderr).toContain('set TUNEFLOW_CODEC_KEYS and TUNEFLOW_CODEC_KEY_ID');
  expect(withoutKeys.stdout).not.toContain(fixture.data);
});

test('raw history, read through the server API, holds no plaintext path, config value or failure message', () => {
  for (const { workflowId, raw, description } of executions) {
    const bytes = historyBytes(raw);
    expect({ workflowId, encrypted: bytes.includes(Buffer.from('binary/encrypted')) }).toEqual({ workflowId, encrypted: true });
    for (const [what, text] of Object.entries(plaintexts())) {
      expect({ workflowId, what, inHistory: bytes.includes(text), inDescription: description.includes(text) }).toEqual({
        workflowId,
        what,
        inHistory: false,
        inDescription: false,
      });
    }
  }
  expect(rawHeartbeats.length).toBeGreaterThan(0);
  for (const heartbeat of rawHeartbeats) {
    for (const text of Object.values(plaintexts())) expect(payloadsBytes(heartbeat).includes(text)).toBe(false);
  }
  // Rotation: the failing pipeline's input is under the retired key, what the workers wrote under the current one.
  const failing = executions.find((e) => e.workflowId === failingId)!.raw.events!;
  const keyIdOf = (payload: Payload | null | undefined) => Buffer.from(payload?.metadata?.[KEY_ID_METADATA_KEY] ?? []).toString();
  expect(keyIdOf(failing[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[0])).toBe('retired');
  const scheduled = failing.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes;
  expect(keyIdOf(scheduled?.input?.payloads?.[0])).toBe('current');
});

test('failures are encoded: the message and stack trace travel encrypted, the key holder reads them', async () => {
  const events = executions.find((e) => e.workflowId === failingId)!;
  const failures = (history: History) =>
    (history.events ?? []).flatMap((e) => [e.activityTaskFailedEventAttributes?.failure, e.workflowExecutionFailedEventAttributes?.failure]).filter((f) => f != null);
  const raw = failures(events.raw);
  expect(raw.length).toBeGreaterThanOrEqual(2);
  for (const outermost of raw) {
    for (let failure: temporal.api.failure.v1.IFailure | null | undefined = outermost; failure; failure = failure.cause) {
      const encoding = Buffer.from(failure.encodedAttributes?.metadata?.encoding ?? []).toString();
      expect({ message: failure.message, stackTrace: failure.stackTrace, encoding }).toEqual({ message: 'Encoded failure', stackTrace: '', encoding: 'binary/encrypted' });
    }
  }
  const decoded = failures(events.decoded).map((f) => defaultPayloadConverter.fromPayload<{ message: string }>(f.encodedAttributes!).message);
  expect(decoded.join('\n')).toContain(`invalid data in ${missingInput}: the input file does not exist`);
  // The client with the key gets the cause, as `run --wait` shows it.
  expect(runOutput.failure).toBeInstanceOf(WorkflowFailedError);
  expect(failureCause((runOutput.failure as WorkflowFailedError).cause).message).toContain(missingInput);
});

test('decoded with the key, the same history holds every one of those strings', () => {
  const decoded = Buffer.concat(executions.map((e) => historyBytes(e.decoded)));
  // Every payload decoded (none left encrypted), so the scans below read all of them.
  expect(decoded.includes(Buffer.from('binary/encrypted'))).toBe(false);
  for (const [what, text] of Object.entries(plaintexts())) expect({ what, found: decoded.includes(text) }).toEqual({ what, found: true });
});

test('no secret of the environment is in the run: inputs, results, heartbeats, memo, search attributes, failures', async () => {
  const decodedHeartbeats = await Promise.all(rawHeartbeats.map(async (h) => payloadsBytes({ payloads: await codec.decode(h.payloads ?? []) })));
  const everything = Buffer.concat([...executions.flatMap((e) => [historyBytes(e.decoded), e.description]), ...decodedHeartbeats]);
  const keys = CODEC_ENV.TUNEFLOW_CODEC_KEYS.split(',').map((entry) => entry.split(':')[1]);
  const found = Object.entries({ ...SECRETS, TUNEFLOW_CODEC_KEYS: keys[0], TUNEFLOW_CODEC_KEYS_2: keys[1] }).filter(([, value]) => everything.includes(value));
  expect(found.map(([name]) => name)).toEqual([]);
  console.log(
    `secrets found: 0 of ${Object.keys(SECRETS).length + keys.length} in ${everything.length} bytes of ${executions.length} decoded histories and descriptions and ${rawHeartbeats.length} sampled heartbeats`,
  );
});

test('the codec server decodes what the history holds, for the UI origin only', async () => {
  const started = executions.find((e) => e.workflowId === pipelineId)!.raw.events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });
  const ui = 'http://127.0.0.1:8233';
  const response = await fetch(`${codecServer.url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: ui },
    body: JSON.stringify({ payloads: started.map(asJson) }),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('access-control-allow-origin')).toBe(ui);
  const body = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  const input = JSON.parse(Buffer.from(body.payloads[0].data, 'base64').toString()) as { config: PipelineConfigInput };
  expect(input.config.data?.input).toBe(fixture.data);

  const preflight = await fetch(`${codecServer.url}/decode`, { method: 'OPTIONS', headers: { origin: ui, 'access-control-request-headers': 'content-type,x-namespace' } });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
  const elsewhere = await fetch(`${codecServer.url}/decode`, { method: 'POST', headers: { origin: 'http://evil.example' }, body: JSON.stringify({ payloads: [] }) });
  expect(elsewhere.status).toBe(403);

  // The Temporal CLI reads the history through it as the UI does (--ui-codec-endpoint): its
  // JSON keeps each payload's data in base64, so the payloads are read out of it.
  const shownPayloads = async (extra: string[]) => {
    const { stdout } = await execa(TEMPORAL_BIN, ['workflow', 'show', '--address', env.address, '--workflow-id', pipelineId, '--output', 'json', ...extra]);
    const texts: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        const { metadata, data } = value as { metadata?: unknown; data?: unknown };
        if (metadata && typeof data === 'string') texts.push(Buffer.from(data, 'base64').toString());
        else Object.values(value).forEach(walk);
      }
    };
    walk(JSON.parse(stdout));
    return texts.join('\n');
  };
  expect(await shownPayloads([])).not.toContain(fixture.data);
  expect(await shownPayloads(['--codec-endpoint', codecServer.url])).toContain(fixture.data);
});

test('every socket the stack listens on is on loopback', () => {
  const all = [...listeners.values()];
  console.log(`listening sockets seen: ${all.length}, not on loopback: ${all.filter((l) => !isLoopback(l.address)).length}: ${all.map((l) => `${l.address}:${l.port} (${l.command.split(' ')[0].split('/').pop()})`).join(', ')}`);
  const ports = new Set(all.map((l) => l.port));
  // The dev server, MLflow and the codec server were all seen: the sampler saw the stack.
  for (const port of [Number(env.address.split(':').at(-1)), Number(new URL(MLFLOW_URI).port), Number(new URL(codecServer.url).port)]) expect(ports).toContain(port);
  expect(all.filter((l) => !isLoopback(l.address))).toEqual([]);
});

test('config strings full of shell metacharacters reach subprocesses as plain arguments: no command runs', async () => {
  const markers = path.join(workDir, 'markers');
  await mkdir(markers);
  const inject = (tag: string) =>
    ` $(touch ${markers}/${tag}-1); touch ${markers}/${tag}-2 \`touch ${markers}/${tag}-3\` | touch ${markers}/${tag}-4 && touch '${markers}/${tag}-5' "q"`;
  // A pipeline id names one folder: no "/", so its commands would touch the working directory.
  const idInjected = 'shell $(touch shell-marker-1); touch shell-marker-2 `touch shell-marker-3` | touch shell-marker-4 \'q\' "q"';
  const raw: PipelineConfigInput = {
    name: 'shell-test',
    data: { input: path.join(workDir, `data${inject('input')}`, 'reviews.tsv'), category: `Camera${inject('category')}`, columns: { text: `body${inject('column')}` } },
    model: { nameOrPath: path.join(workDir, `model${inject('model')}`), sourcePrefix: `summarize${inject('prefix')}: ` },
    storage: { root: path.join(workDir, `root${inject('root')}`) },
    mlflow: { trackingUri: MLFLOW_URI, experiment: `${EXPERIMENT}${inject('experiment')}` },
  };
  const config = parseConfig(raw);
  // Names that reach other systems are validated: no metacharacters get that far.
  expect(() => parseConfig({ ...raw, name: `shell${inject('name')}` })).toThrow(InvalidConfigError);
  expect(() => parseConfig({ ...raw, register: { modelName: `m${inject('registered')}` } })).toThrow(/register\.modelName/);

  // A pipeline step (the runner every Python step goes through): the spec path, storage.root /
  // pipeline id / step, is an argument of the command; the config's strings are in the spec.
  const split = { validationPath: path.join(config.storage.root, 'validation.parquet'), trainPath: path.join(config.storage.root, 'train.parquet') };
  const failed = await evaluate({ pipelineId: idInjected, config, modelDir: config.model.nameOrPath, ...split, mlflowRunId: `run${inject('run')}` }).then(
    () => null,
    (err: Error) => err.message,
  );
  // Whichever of the split's files the step reads first, it names it whole.
  expect([split.validationPath, split.trainPath].filter((file) => failed?.includes(`${file} does not exist`))).not.toEqual([]);
  await access(path.join(config.storage.root, idInjected, 'evaluate', 'spec.json'));
  // Under the DeepSpeed launcher the hostfile is one argument, as given.
  const hostfile = path.join(workDir, `hosts${inject('hostfile')}`);
  const command = stepCommand('train', '/tmp/spec.json', { kind: 'deepspeed', numGpus: 1, masterPort: 29500, multiNode: { hostfile, nodes: [{ name: 'node-a', slots: 1 }], masterAddr: null } });
  expect(command[command.indexOf('--hostfile') + 1]).toBe(hostfile);

  expect(await readdir(markers)).toEqual([]);
  for (const dir of [REPO_ROOT, workDir]) expect((await readdir(dir)).filter((name) => name.startsWith('shell-marker'))).toEqual([]);
});

test('no code starts a process through a shell', async () => {
  const shellStarts = [
    /\bshell:\s*true/, // execa / child_process option
    /\bexecaCommand(Sync)?\b/, // execa's command-string API
    /import\s*{[^}]*\$[^}]*}\s*from\s*'execa'/, // execa's template-string API
    // child_process.exec runs /bin/sh -c
    /import\s*{[^}]*\bexec(Sync)?\b[^}]*}\s*from\s*'(node:)?child_process'/,
    /\b(child_process|childProcess|cp)\.exec(Sync)?\(/,
    /\bshell\s*=\s*True|\bos\.(system|popen)\(/, // Python
  ];
  const found: string[] = [];
  for (const dir of ['lib', 'activities', 'client', 'workers', 'scripts', 'bench', 'python/tuneflow_ml']) {
    for (const file of await readdir(path.join(REPO_ROOT, dir), { recursive: true })) {
      if (!/\.(ts|py)$/.test(file)) continue;
      const text = await readFile(path.join(REPO_ROOT, dir, file), 'utf8');
      for (const pattern of shellStarts) if (pattern.test(text)) found.push(`${dir}/${file}: ${pattern}`);
    }
  }
  expect(found).toEqual([]);
});
