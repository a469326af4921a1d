/**
 * bench/train: tuneflow's train step (the activity: lib/python-step, events, heartbeats, checkpoints,
 * MLflow logging) against a plain Seq2SeqTrainer script with the same arguments, on the same data
 * and tiny T5, in one invocation, alternating runs; medians of samples/s from each trainer's own
 * train_samples_per_second, and end-to-end wall time.
 *
 *   npm run bench:train [-- --rounds 3 --rows 3000]
 *
 * Variants: `plain` (baseline), `tuneflow same-args` (random batches, as plain: the overhead),
 * `tuneflow default` (length-grouped batches: the speed-up), each with its final training loss,
 * and `tuneflow same-args, S3` (storage.root on the local SeaweedFS of scripts/services.sh: every
 * checkpoint uploaded in the background), with the steps its stored pointer lagged at the end.
 * Each round also shows the CPU seconds spent outside the trainer's process while it ran: this
 * process (the worker's side: events, heartbeats, the uploader) and the local SeaweedFS. On a
 * host whose cores the training loop fills, that is the time the S3 variant takes from training.
 */
import * as path from 'node:path';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { parseConfig } from '../../lib/config';
import { REPO_ROOT } from '../../lib/artifacts';
import { MlflowClient } from '../../lib/mlflow';
import { pythonExecutable } from '../../lib/python-step';
import { clean } from '../../activities/clean';
import { split } from '../../activities/split';
import { train } from '../../activities/train';
import { throughStorage } from '../../lib/storage/boundary';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ROUNDS = option('rounds', 3);
const ROWS = option('rows', 3000);
const MLFLOW_URI = 'http://127.0.0.1:5000';
const HYPER = { batch: 16, epochs: 1, lr: 1e-3, maxSource: 128, maxTarget: 24, saveSteps: 50 };
// The local stack's SeaweedFS (`scripts/services.sh start s3`) and its local-only credentials, unless the environment names others.
const S3_ROOT = `s3://${process.env.TUNEFLOW_S3_BUCKET ?? 'tuneflow'}/bench`;
process.env.AWS_ENDPOINT_URL ??= `http://127.0.0.1:${process.env.TUNEFLOW_S3_PORT ?? '8333'}`;
process.env.AWS_ACCESS_KEY_ID ??= 'tuneflow-local';
process.env.AWS_SECRET_ACCESS_KEY ??= 'tuneflow-local-secret';

interface Measure {
  samplesPerSec: number;
  trainLoss: number;
  wallSec: number;
  /** Steps the stored checkpoint pointer lagged behind training at its end (the S3 variant). */
  lagSteps?: number;
  /** CPU seconds of this process (the worker's side of the step) and of the local S3 server during the run. */
  cpu: { worker: number; store: number | null };
}

/** user + system CPU seconds of the local stack's SeaweedFS (scripts/services.sh's pid file), or null if it is not running here. */
async function storeCpuSeconds(): Promise<number | null> {
  const state = process.env.TUNEFLOW_STATE_DIR ?? path.join(REPO_ROOT, 'state', 'services');
  try {
    const pid = (await readFile(path.join(state, 's3.pid'), 'utf8')).trim();
    // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name; in clock ticks (100 per second on Linux).
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Runs `once` and adds the CPU seconds spent meanwhile by this process and the S3 server. */
async function withCpu(once: () => Promise<Omit<Measure, 'cpu'>>): Promise<Measure> {
  const [storeBefore, workerBefore] = [await storeCpuSeconds(), process.cpuUsage()];
  const measure = await once();
  const [storeAfter, worker] = [await storeCpuSeconds(), process.cpuUsage(workerBefore)];
  const store = storeBefore === null || storeAfter === null ? null : storeAfter - storeBefore;
  return { ...measure, cpu: { worker: (worker.user + worker.system) / 1e6, store } };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'tuneflow-bench-train-'));
  const data = path.join(work, 'reviews.tsv.gz');
  const model = path.join(work, 'tiny-t5');
  await execa(path.join(REPO_ROOT, 'bin', 'ts-run'), [path.join(REPO_ROOT, 'scripts', 'generate-reviews.ts'), '--out', data, '--rows', String(ROWS), '--products', '60', '--seed', '3']);
  await execa(pythonExecutable(), ['-m', 'tuneflow_ml.tiny_model', '--data', data, '--out', model], { env: { PYTHONPATH: path.join(REPO_ROOT, 'python') } });

  const configFor = (groupByLength: boolean, root = path.join(work, 'runs')) =>
    parseConfig({
      name: 'bench-train',
      data: { input: data, category: 'Camera' },
      model: { nameOrPath: model, maxSourceLength: HYPER.maxSource, maxTargetLength: HYPER.maxTarget },
      train: { epochs: HYPER.epochs, perDeviceTrainBatchSize: HYPER.batch, learningRate: HYPER.lr, checkpointEverySteps: HYPER.saveSteps, loggingSteps: 5, groupByLength },
      storage: { root, cacheDir: path.join(work, 'cache') },
      mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-bench' },
    });
  const prepared = configFor(false);
  const cleaned = await clean({ pipelineId: 'bench-data', config: prepared });
  const splitResult = await split({ pipelineId: 'bench-data', config: prepared, cleanedPath: cleaned.cleanedPath });
  console.log(`data: ${splitResult.trainRows} training rows; model: tiny T5; ${ROUNDS} rounds`);

  const plain = (round: number) => withCpu(async () => {
    const started = Date.now();
    const { stdout } = await execa(pythonExecutable(), [
      path.join(REPO_ROOT, 'bench', 'train', 'plain_trainer.py'),
      '--model', model, '--train', splitResult.trainPath, '--out', path.join(work, `plain-${round}`),
      '--batch', String(HYPER.batch), '--epochs', String(HYPER.epochs), '--lr', String(HYPER.lr),
      '--max-source', String(HYPER.maxSource), '--max-target', String(HYPER.maxTarget), '--save-steps', String(HYPER.saveSteps),
    ]);
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as Pick<Measure, 'samplesPerSec' | 'trainLoss'>;
    return { ...result, wallSec: (Date.now() - started) / 1000 };
  });
  const mlflow = new MlflowClient(MLFLOW_URI);
  const trainOnStore = throughStorage('train', train, 'state');
  const tuneflow = (groupByLength: boolean, root?: string) => (round: number) => withCpu(async () => {
    const started = Date.now();
    const result = await (root ? trainOnStore : train)({
      pipelineId: `bench-${groupByLength ? 'grouped' : 'random'}${root ? '-s3' : ''}-${round}-${Date.now()}`,
      config: configFor(groupByLength, root),
      trainPath: splitResult.trainPath,
      validationPath: splitResult.validationPath,
    });
    const run = await mlflow.getRun(result.mlflowRunId);
    const metric = (key: string) => run.data.metrics.find((m) => m.key === key)!.value;
    return {
      samplesPerSec: metric('train_samples_per_second'),
      trainLoss: metric('train_loss_mean'),
      wallSec: (Date.now() - started) / 1000,
      lagSteps: result.checkpointUploads?.lagSteps,
    };
  });

  const variants: [string, (round: number) => Promise<Measure>][] = [
    ['plain Seq2SeqTrainer', plain],
    ['tuneflow, same args', tuneflow(false)],
    ['tuneflow, default', tuneflow(true)],
    ['tuneflow, same args, S3', tuneflow(false, S3_ROOT)],
  ];
  const measures = new Map<string, Measure[]>(variants.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, runOnce] of variants) {
      const m = await runOnce(round);
      measures.get(name)!.push(m);
      const lag = m.lagSteps === undefined ? '' : `, upload lag at the end ${m.lagSteps} steps`;
      const cpu = `CPU beside the trainer: worker ${m.cpu.worker.toFixed(2)} s, SeaweedFS ${m.cpu.store?.toFixed(2) ?? '-'} s`;
      console.log(`round ${round + 1} ${name}: ${m.samplesPerSec.toFixed(1)} samples/s, loss ${m.trainLoss.toFixed(4)}, wall ${m.wallSec.toFixed(1)} s${lag}; ${cpu}`);
    }
  }
  const summary = variants.map(([name]) => {
    const ms = measures.get(name)!;
    return {
      name,
      samplesPerSec: median(ms.map((m) => m.samplesPerSec)),
      trainLoss: median(ms.map((m) => m.trainLoss)),
      wallSec: median(ms.map((m) => m.wallSec)),
      lagSteps: ms.map((m) => m.lagSteps).filter((lag) => lag !== undefined),
      besideTrainerCpu: median(ms.map((m) => m.cpu.worker + (m.cpu.store ?? 0))),
    };
  });
  const base = summary[0];
  console.log('\nvariant                 samples/s (median)  ratio vs plain  final loss  wall s (median)');
  for (const s of summary) {
    console.log(
      `${s.name.padEnd(24)}${s.samplesPerSec.toFixed(1).padStart(18)}${(s.samplesPerSec / base.samplesPerSec).toFixed(3).padStart(16)}` +
        `${s.trainLoss.toFixed(4).padStart(12)}${s.wallSec.toFixed(1).padStart(17)}`,
    );
  }
  const overhead = 1 - summary[1].samplesPerSec / base.samplesPerSec;
  console.log(`\noverhead of tuneflow's train loop at equal arguments: ${(overhead * 100).toFixed(1)}% (target <= 3%)`);
  console.log(`speed-up of tuneflow's default over plain: ${(summary[2].samplesPerSec / base.samplesPerSec).toFixed(2)}x`);
  const [local, onStore] = [summary[1], summary[3]];
  console.log(
    `storage.root on SeaweedFS vs local disk, same args: ${(onStore.samplesPerSec / local.samplesPerSec).toFixed(3)}x samples/s (target >= 0.97); ` +
      `upload lag at the end: ${onStore.lagSteps.join(', ')} steps; CPU beside the trainer (worker + SeaweedFS, median): ` +
      `${onStore.besideTrainerCpu.toFixed(2)} s against ${local.besideTrainerCpu.toFixed(2)} s on local disk`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
