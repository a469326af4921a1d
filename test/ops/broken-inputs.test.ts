/**
 * Broken inputs, as a new user makes them, through `tuneflow run --wait` against the real local
 * stack (one Temporal dev server, the MLflow server, one CPU and one GPU worker for the file):
 * for each, the exit code, the step, the failure type and the advice printed at the CLI, and
 * the time to failure. Config faults fail in the CLI (exit 2); the rest in the preflight, on a CPU
 * worker before any GPU is held, or in the first step that can see them. CI runs one case of each
 * fault; `npm run soak` (TUNEFLOW_SOAK=1) runs all of them. The figures are written as a Markdown
 * table (`broken-inputs.md` in the test's folder, path printed): docs/failures.md holds one.
 */
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execa } from 'execa';
import { stringify } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createCpuWorker } from '../../workers/cpu-worker';
import { createGpuWorker } from '../../workers/gpu-worker';
import { REPO_ROOT } from '../../lib/artifacts';
import type { PipelineConfigInput } from '../../lib/config';
import { MLFLOW_URI, demoFixture, startTemporal, tempDir } from '../helpers/environment';

let env: TestWorkflowEnvironment;
let dir: string;
let fixture: { data: string; model: string };
let workers: Worker[] = [];
let running: Promise<unknown>[] = [];
let notMlflow: Server;
/** A loopback port nobody listens on (bound once, then closed). */
let closedPort: number;
const mounts: string[] = [];
const table: string[] = [];

/** A folder on a volume of its own (tmpfs) where this host lets the test mount one: root only. */
function mountTmpfs(at: string, options: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at], { stdio: 'ignore' });
    mounts.push(at);
    return true;
  } catch {
    return false;
  }
}

const file = (name: string) => path.join(dir, 'inputs', name);
const TSV_HEADER = 'marketplace\tcustomer_id\treview_id\tproduct_id\tproduct_parent\tproduct_title\tproduct_category\tstar_rating\thelpful_votes\ttotal_votes\tvine\tverified_purchase\treview_headline\treview_body\treview_date';

beforeAll(async () => {
  dir = await tempDir('broken-inputs');
  await mkdir(path.join(dir, 'inputs', 'no-reviews-here'), { recursive: true });
  await mkdir(path.join(dir, 'inputs', 'empty-model'), { recursive: true });
  [env, fixture] = await Promise.all([startTemporal(), demoFixture(dir, 200, 8)]);
  // A host without access to the model hub, as these workers are: a hub name fails at once.
  process.env.HF_HUB_OFFLINE = '1';

  const row = (i: number) => `US\t1\tR${i}\tP${i % 3}\t1\tA camera\tCamera\t5\t0\t0\tN\tY\tgreat camera ${i}\tthe lens is sharp and the battery lasts ${i} days\t2015-08-31`;
  const rows = Array.from({ length: 40 }, (_, i) => row(i)).join('\n');
  await writeFile(file('empty.tsv'), '');
  await writeFile(file('header-only.tsv'), `${TSV_HEADER}\n`);
  await writeFile(file('truncated.tsv.gz'), gzipSync(`${TSV_HEADER}\n${rows}\n`).subarray(0, 200));
  await writeFile(file('binary.tsv'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)));
  await writeFile(file('headerless.csv'), Array.from({ length: 40 }, (_, i) => `R${i},P${i % 3},5,great camera ${i},the lens is sharp ${i}`).join('\n'));
  await writeFile(file('reviews.csv'), `id,title,body\n${Array.from({ length: 40 }, (_, i) => `R${i},great camera ${i},the lens is sharp ${i}`).join('\n')}\n`);
  await writeFile(file('reviews.txt'), rows);
  await writeFile(file('not-parquet.parquet'), 'this is not a parquet file');
  await writeFile(file('reviews.jsonl'), '{"text": "the lens is sharp", "summary": "great"}\n');
  await writeFile(file('one-row.tsv'), `${TSV_HEADER}\n${row(1)}\n`);
  await writeFile(file('a-file'), 'not a folder');
  // t5-11b's architecture (its config.json, no weights): the memory plan sizes it.
  await mkdir(file('t5-11b-config'));
  await writeFile(
    file('t5-11b-config/config.json'),
    JSON.stringify({ model_type: 't5', architectures: ['T5ForConditionalGeneration'], d_model: 1024, d_ff: 65536, num_layers: 24, num_heads: 128, d_kv: 128, vocab_size: 32128 }),
  );
  await cp(fixture.model, file('model-copy'), { recursive: true });

  await mkdir(path.join(dir, 'read-only'));
  if (!mountTmpfs(path.join(dir, 'read-only'), 'ro,size=1m')) await chmod(path.join(dir, 'read-only'), 0o555);
  await mkdir(path.join(dir, 'full'));
  mountTmpfs(path.join(dir, 'full'), 'size=1m');

  // An HTTP server that is not MLflow: its answers are 404 pages.
  notMlflow = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>not found</h1>'));
  await new Promise<void>((resolve) => notMlflow.listen(0, '127.0.0.1', resolve));
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  const namespace = env.namespace ?? 'default';
  workers = [await createCpuWorker(env.nativeConnection, namespace), await createGpuWorker(env.nativeConnection, namespace, { count: 0, names: [] })];
  running = workers.map((worker) => worker.run());
}, 300_000);

afterAll(async () => {
  for (const worker of workers) worker.shutdown();
  await Promise.allSettled(running);
  await env?.teardown();
  notMlflow?.close();
  for (const at of mounts) execFileSync('umount', [at]);
  delete process.env.HF_HUB_OFFLINE;
  const tablePath = path.join(dir, 'broken-inputs.md');
  await writeFile(tablePath, ['| input | step | type | message (start) | seconds |', '|---|---|---|---|---|', ...table].join('\n') + '\n');
  console.log(`broken-inputs table: ${tablePath}`);
});

interface BrokenInput {
  input: string;
  /** The config's changes to a config that runs (the fixture's data and model). */
  config: () => Partial<PipelineConfigInput> | string;
  exitCode: 1 | 2;
  /** Where it fails: `config` (the CLI, before starting), or the pipeline step. */
  step: string;
  type: string;
  advice: RegExp;
  /** In CI: one case of each fault (each check, each step that can refuse); `npm run soak` runs them all. */
  ci?: boolean;
  /** Why this host cannot run the case (its volume cannot be mounted), or null. */
  skip?: () => string | null;
}

const train = (t: Record<string, unknown>) => ({ train: { maxSteps: 2, ...t } }) as Partial<PipelineConfigInput>;
const data = (d: Record<string, unknown>) => ({ data: d }) as Partial<PipelineConfigInput>;

const CASES: BrokenInput[] = [
  // The config itself: the CLI refuses it with the zod path and reason, nothing starts.
  { input: 'an unknown field', ci: true, config: () => ({ trian: {} }) as never, exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /\(root\): Unrecognized key: "trian"/ },
  { input: 'a batch size of 0', config: () => train({ perDeviceTrainBatchSize: 0 }), exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /train\.perDeviceTrainBatchSize: Too small/ },
  { input: 'a tracking URI that is not a URL', config: () => ({ mlflow: { trackingUri: 'localhost:5000' } }) as never, exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /mlflow\.trackingUri: expected an http\(s\) URL/ },
  { input: 'a hostfile without DeepSpeed', config: () => train({ hostfile: 'hosts' }), exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /train\.hostfile: hostfile needs train\.deepspeed/ },
  { input: 'offloadParam under ZeRO-2', config: () => train({ deepspeed: { stage: 2, offloadParam: true } }), exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /train\.deepspeed\.offloadParam: offloadParam needs ZeRO stage 3/ },
  { input: 'column names with data.header false', config: () => data({ input: file('headerless.csv'), header: false, columns: { text: 'body', summary: 'title' } }), exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /data\.columns\.text: with data\.header false, name each column by its position/ },
  { input: 'YAML that does not parse', config: () => 'name: [unclosed\n', exitCode: 2, step: 'config', type: 'InvalidConfig', advice: /invalid config/ },
  // The input: the preflight probes every file as clean would.
  { input: 'a missing input file', ci: true, config: () => data({ input: file('nope.tsv') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /the input file does not exist\. Check data\.input/ },
  { input: 'an empty file', config: () => data({ input: file('empty.tsv') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /empty/ },
  { input: 'a header-only file', config: () => data({ input: file('header-only.tsv') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /no data rows|header but no/ },
  { input: 'a truncated .gz', config: () => data({ input: file('truncated.tsv.gz') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /gzip|truncated|unexpected end/i },
  { input: 'a binary file', config: () => data({ input: file('binary.tsv') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /it is not a text file \(a NUL byte/ },
  { input: 'a headerless CSV read with a header', ci: true, config: () => data({ input: file('headerless.csv') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /data\.header: false/ },
  { input: 'a mapped column the header lacks', config: () => data({ input: file('reviews.csv'), columns: { text: 'review_text', summary: 'title' } }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /review_text/ },
  { input: 'a glob that matches nothing', config: () => data({ input: path.join(dir, 'inputs', 'part-*.tsv.gz') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /matches no|no file/i },
  { input: 'a folder without review files', config: () => data({ input: path.join(dir, 'inputs', 'no-reviews-here') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /no .*files|\.tsv/i },
  { input: 'an unknown file extension', config: () => data({ input: file('reviews.txt') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /data\.format|extension|\.tsv/ },
  { input: 'a .parquet that is not Parquet', config: () => data({ input: file('not-parquet.parquet') }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /Parquet/i },
  { input: 'data.header false on JSONL', config: () => data({ input: file('reviews.jsonl'), header: false, columns: { text: 1, summary: 2 } }), exitCode: 1, step: 'preflight', type: 'InvalidData', advice: /CSV and TSV files only/ },
  // Data the probe cannot judge: the first step that reads it.
  { input: 'a category no row has', ci: true, config: () => data({ input: fixture.data, category: 'Toasters' }), exitCode: 1, step: 'clean', type: 'InvalidData', advice: /data\.category|no rows/ },
  { input: 'one row: nothing to split', config: () => data({ input: file('one-row.tsv') }), exitCode: 1, step: 'split', type: 'InvalidData', advice: /both sides need rows.*Use more data/ },
  // Row counts are known after clean: split refuses evaluating more validation rows than there are.
  { input: 'evaluate.maxSamples beyond the validation rows', ci: true, config: () => ({ evaluate: { maxSamples: 1000 } }), exitCode: 1, step: 'split', type: 'InvalidConfig', advice: /the validation split holds \d+ rows, but evaluate\.maxSamples asks for 1000\. Set evaluate\.maxSamples to at most \d+/ },
  // The model and the memory plan.
  { input: 'a model path that does not exist', ci: true, config: () => ({ model: { nameOrPath: file('no-such-model') } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /model\.nameOrPath .*Give model\.nameOrPath as a local directory/ },
  { input: 'a model folder without config.json', config: () => ({ model: { nameOrPath: file('empty-model') } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /model\.nameOrPath/ },
  { input: 'a hub name on a host without the hub', config: () => ({ model: { nameOrPath: 't5-small' } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /model\.nameOrPath 't5-small'.*hub/ },
  { input: 't5-11b on 24 GiB GPUs with ZeRO-2', ci: true, config: () => ({ model: { nameOrPath: file('t5-11b-config') }, ...train({ gpuMemoryGiB: 24, numGpus: 8, deepspeed: { stage: 2 } }) }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /does not fit.*Options that fit|No ZeRO stage fits/ },
  { input: 'mustBeat zeroShot with a random-weights base model', config: () => ({ register: { mustBeat: 'zeroShot' } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /register\.mustBeat is zeroShot, but zero-shot is not scored for this config: .*random weights.*Choose register\.mustBeat best/ },
  { input: 'a batch the memory plan refuses', config: () => train({ perDeviceTrainBatchSize: 4096, gpuMemoryGiB: 1 }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /lower train\.perDeviceTrainBatchSize|Options that fit/ },
  // The GPU workers: none of them can run it.
  { input: 'DeepSpeed on workers without GPUs', ci: true, config: () => train({ deepspeed: { stage: 2 } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /train\.deepspeed needs CUDA GPUs.*DS_ACCELERATOR=cpu/ },
  { input: 'more GPUs than a worker has', config: () => train({ numGpus: 4 }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /train\.numGpus 4 is more than any GPU worker/ },
  // MLflow.
  { input: 'MLflow unreachable (nothing listens)', ci: true, config: () => ({ mlflow: { trackingUri: `http://127.0.0.1:${closedPort}`, preflightRetrySeconds: 5 } }) as never, exitCode: 1, step: 'preflight', type: 'MlflowUnavailable', advice: /MLflow at http:\/\/127\.0\.0\.1:\d+ .*did not answer for 5 s.*ECONNREFUSED/ },
  { input: 'a tracking URI that is not MLflow', config: () => ({ mlflow: { trackingUri: `http://127.0.0.1:${(notMlflow.address() as AddressInfo).port}` } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /does not work as an MLflow tracking server/ },
  // storage.root.
  { input: 'a read-only storage.root', ci: true, config: () => ({ storage: { root: path.join(dir, 'read-only', 'runs') } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /storage\.root .* is not writable/ },
  { input: 'storage.root on a full volume', config: () => ({ storage: { root: path.join(dir, 'full') } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /too little free space.*train\.keepCheckpoints/, skip: () => (mounts.includes(path.join(dir, 'full')) ? null : 'this host does not let the test mount a small volume (needs root)') },
  { input: 'storage.root that is a file', config: () => ({ storage: { root: file('a-file') } }), exitCode: 1, step: 'preflight', type: 'InvalidConfig', advice: /storage\.root .* is not writable/ },
  // Several at once: all reported together.
  { input: 'a missing file and a missing model', ci: true, config: () => ({ ...data({ input: file('nope.tsv') }), model: { nameOrPath: file('no-such-model') } }), exitCode: 1, step: 'preflight', type: 'PreflightFailed', advice: /2 checks failed[\s\S]*- input: [\s\S]*- model: / },
];

function cli(args: string[]) {
  return execa(path.join(REPO_ROOT, 'bin', 'tuneflow'), args, { env: { TEMPORAL_ADDRESS: env.address }, reject: false });
}

const RUN = process.env.TUNEFLOW_SOAK === '1' ? CASES : CASES.filter((c) => c.ci);

test.each(RUN.map((c) => [c.input, c, CASES.indexOf(c)] as const))('%s fails at the CLI with its cause', async (_name, broken, index) => {
  const skipped = broken.skip?.() ?? null;
  if (skipped !== null) {
    table.push(`| ${broken.input} | - | - | not run: ${skipped} | - |`);
    return;
  }
  const configFile = path.join(dir, `case-${index}.yaml`);
  const changes = broken.config();
  const base: PipelineConfigInput = {
    name: `broken-${index}`,
    data: { input: fixture.data },
    model: { nameOrPath: fixture.model, maxSourceLength: 64, maxTargetLength: 16 },
    train: { maxSteps: 2 },
    storage: { root: path.join(dir, 'runs') },
    mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' },
  };
  await writeFile(configFile, typeof changes === 'string' ? changes : stringify(merge(base, changes)));
  const startedAt = Date.now();
  const run = await cli(['run', '--config', configFile, '--id', `broken-${index}-${Date.now()}`, '--wait']);
  const seconds = (Date.now() - startedAt) / 1000;
  const message = run.stderr.trim();
  // The table shows the cause itself: past the CLI's and the preflight's framing.
  const cause = message
    .replace(/^error: pipeline \S+ failed: .*?\): /, '')
    .replace(/^\w+ check failed before anything was started: /, '')
    .replace(/^invalid config \S+:\n/, '');
  table.push(`| ${broken.input} | ${broken.step} | ${broken.type} | ${cause.replaceAll('\n', ' ').slice(0, 240).replaceAll('|', '\\|')} | ${seconds.toFixed(1)} |`);

  expect({ exitCode: run.exitCode, message }).toEqual({ exitCode: broken.exitCode, message: expect.stringMatching(broken.advice) });
  if (broken.step === 'config') {
    expect(message).toMatch(/^invalid config /);
  } else {
    expect(message).toContain(`failed: ${broken.type} in ${broken.step} (`);
  }
  expect(message).not.toContain('Activity task failed');
  // Failing fast means failing on the first attempt, unretried; the seconds go to the table only
  // (a loaded host makes any time bound flaky).
  if (broken.step !== 'config') expect(message).toMatch(/[(, ]attempt 1, final: /);
});

/** `base` with `changes` laid over it, one level deep (each section merged). */
function merge(base: PipelineConfigInput, changes: Partial<PipelineConfigInput>): PipelineConfigInput {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    const current = merged[key];
    merged[key] = current && typeof current === 'object' && value && typeof value === 'object' ? { ...current, ...value } : value;
  }
  return merged as PipelineConfigInput;
}
