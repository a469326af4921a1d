/**
 * Writes bench/gpu/prepared.json, what bench/gpu/bench.py needs and cannot compute on the GPU
 * machine, which has no Node.js: each case's full pipeline config (lib/config.ts defaults
 * applied), its DeepSpeed config (lib/deepspeed.ts, as the train activity writes it) and the
 * real T5 architectures (python/tuneflow_ml/plan.py's KNOWN_T5), for the full run and the dry run.
 *
 *   bin/ts-run bench/gpu/prepare.ts            rewrite the file
 *   bin/ts-run bench/gpu/prepare.ts --check    exit 1 if the file is out of date
 */
import * as path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { parseConfig, type PipelineConfigInput } from '../../lib/config';
import { deepSpeedConfig } from '../../lib/deepspeed';
import { pythonExecutable } from '../../lib/python-step/launch';

export const PREPARED_PATH = path.join(REPO_ROOT, 'bench', 'gpu', 'prepared.json');

type Runner = 'plain' | 'tuneflow';
type ModelName = 't5-small' | 't5-large' | 't5-3b';

interface Sizes {
  sourceTokens: number;
  targetTokens: number;
  /** Steps timed after the first logged step (warm-up: allocation, kernel selection). */
  steps: { small: number; large: number; huge: number };
  loggingSteps: { small: number; large: number; huge: number };
  /** Texts summarized in bulk, single-request latency samples, and generation lengths. */
  generation: { texts: Record<'t5-small' | 't5-large', number>; latencySamples: number; numBeams: number; minNewTokens: number; maxNewTokens: number; maxSourceLength: number };
  /** The dry run's stand-in for every size: a tiny T5 (its vocabulary is the bench's own tokenizer's). */
  tinyArchitecture?: Record<string, number>;
  vocabSize: number;
  batch: { small: number; large: number; huge: number };
}

const PROFILES: Record<'full' | 'dry', Sizes> = {
  // The figures: 128/32 tokens; t5-small batch 64; t5-large batch 20; t5-3b a few steps
  // (the seed's t5-11b recipe, batch 8 per GPU, scaled to one GPU).
  full: {
    sourceTokens: 128,
    targetTokens: 32,
    steps: { small: 60, large: 30, huge: 4 },
    loggingSteps: { small: 10, large: 5, huge: 1 },
    generation: { texts: { 't5-small': 128, 't5-large': 64 }, latencySamples: 10, numBeams: 10, minNewTokens: 50, maxNewTokens: 64, maxSourceLength: 512 },
    vocabSize: 32128,
    batch: { small: 64, large: 20, huge: 8 },
  },
  dry: {
    sourceTokens: 32,
    targetTokens: 8,
    steps: { small: 8, large: 4, huge: 2 },
    loggingSteps: { small: 2, large: 2, huge: 1 },
    generation: { texts: { 't5-small': 12, 't5-large': 8 }, latencySamples: 3, numBeams: 4, minNewTokens: 4, maxNewTokens: 8, maxSourceLength: 64 },
    tinyArchitecture: { d_model: 64, d_ff: 256, num_layers: 2, num_heads: 4, d_kv: 16 },
    vocabSize: 512,
    batch: { small: 8, large: 4, huge: 2 },
  },
};

interface TrainCase {
  name: string;
  runner: Runner;
  model: ModelName;
  /** Run again from the checkpoint written halfway: the resumed run must continue at its step. */
  resume: boolean;
  config: ReturnType<typeof parseConfig>;
  deepspeedConfig: ReturnType<typeof deepSpeedConfig>;
}

function trainCase(sizes: Sizes, name: string, runner: Runner, model: ModelName, train: PipelineConfigInput['train'], resume = false): TrainCase {
  const size = model === 't5-small' ? 'small' : model === 't5-large' ? 'large' : 'huge';
  // Timed steps come after the first logged one; a resumed case checkpoints after the first half.
  const maxSteps = sizes.loggingSteps[size] + sizes.steps[size];
  const config = parseConfig({
    name: `gpu-bench-${name}`,
    model: { nameOrPath: 'set-by-bench', maxSourceLength: sizes.sourceTokens, maxTargetLength: sizes.targetTokens },
    train: {
      maxSteps,
      perDeviceTrainBatchSize: sizes.batch[size],
      optim: 'adafactor',
      bf16: 'auto',
      // Fixed-length examples: grouping by length changes nothing, and plain Trainer does not group.
      groupByLength: false,
      loggingSteps: sizes.loggingSteps[size],
      checkpointEverySteps: resume ? maxSteps / 2 : maxSteps * 10,
      // Both checkpoints of a resumed case stay: the resumed run starts from the first.
      keepCheckpoints: resume ? 2 : 1,
      gpuMemoryGiB: 139,
      hostMemoryGiB: 128,
      ...train,
    },
    mlflow: { trackingUri: 'http://set-by-bench', experiment: 'gpu-bench' },
  });
  return { name, runner, model, resume, config, deepspeedConfig: deepSpeedConfig(config.train) };
}

async function knownArchitectures(): Promise<Record<ModelName, Record<string, number>>> {
  const probe = 'import json; from tuneflow_ml.plan import KNOWN_T5; print(json.dumps({k: KNOWN_T5[k] for k in ("t5-small", "t5-large", "t5-3b")}))';
  const { stdout } = await execa(pythonExecutable(), ['-c', probe], { env: { PYTHONPATH: path.join(REPO_ROOT, 'python') } });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
}

export async function prepared(): Promise<Record<string, unknown>> {
  const known = await knownArchitectures();
  const profiles: Record<string, unknown> = {};
  for (const [profile, sizes] of Object.entries(PROFILES)) {
    const zero2 = { stage: 2 as const, offloadOptimizer: false, offloadParam: false };
    const cases = [
      trainCase(sizes, 'small-plain', 'plain', 't5-small', {}),
      trainCase(sizes, 'small-tuneflow', 'tuneflow', 't5-small', {}),
      trainCase(sizes, 'small-zero2', 'tuneflow', 't5-small', { deepspeed: zero2 }, true),
      trainCase(sizes, 'large-zero2', 'tuneflow', 't5-large', { deepspeed: zero2, gradientCheckpointing: true }),
      trainCase(sizes, '3b-zero3-offload', 'tuneflow', 't5-3b', { deepspeed: { stage: 3, offloadOptimizer: true, offloadParam: true } }),
    ];
    const g = sizes.generation;
    const generation = (['t5-small', 't5-large'] as const).map((model) => ({
      model,
      texts: g.texts[model],
      config: parseConfig({
        name: `gpu-bench-generate-${model}`,
        model: { nameOrPath: 'set-by-bench', maxSourceLength: g.maxSourceLength },
        summarize: { numBeams: g.numBeams, minNewTokens: g.minNewTokens, maxNewTokens: g.maxNewTokens, latencySamples: g.latencySamples },
      }),
    }));
    const architectures = Object.fromEntries(
      Object.entries(known).map(([name, arch]) => [name, { ...(sizes.tinyArchitecture ?? arch), vocab_size: sizes.vocabSize }]),
    );
    profiles[profile] = { architectures, cases, generation };
  }
  return { generatedBy: 'bin/ts-run bench/gpu/prepare.ts', profiles };
}

export const serialize = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

async function main(): Promise<void> {
  const text = serialize(await prepared());
  if (process.argv.includes('--check')) {
    const current = await readFile(PREPARED_PATH, 'utf8').catch(() => '');
    if (current !== text) {
      console.error(`${PREPARED_PATH} is out of date with lib/config.ts, lib/deepspeed.ts or plan.py; run bin/ts-run bench/gpu/prepare.ts`);
      process.exit(1);
    }
    return;
  }
  await writeFile(PREPARED_PATH, text);
  console.log(`wrote ${PREPARED_PATH}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
