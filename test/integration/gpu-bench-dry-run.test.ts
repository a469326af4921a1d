/**
 * bench/gpu: its prepared configs are current, and its dry run (tiny sizes, this host's device)
 * measures every figure the GPU run reports. On a CUDA host the same run also shows bf16 on,
 * NCCL under DeepSpeed and peak memory within the plan; elsewhere that test is skipped. The dry
 * run takes five minutes on a CPU host: there it runs in `npm run soak`, on a CUDA host always.
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { REPO_ROOT } from '../../lib/artifacts';
import { pythonExecutable } from '../../lib/python-step/launch';
import { PREPARED_PATH, prepared, serialize } from '../../bench/gpu/prepare';
import { hostHasCuda } from '../helpers/accelerators';
import { tempDir } from '../helpers/environment';

interface TrainFigures {
  samplesPerSec?: number;
  tokensPerSec?: number;
  mfuOfMeasuredMatmul?: number;
  planGpuGiB?: number | null;
  peakGpuReservedGiB?: number | null;
  bf16?: boolean;
  distributedBackend?: string | null;
  error?: string;
  checkpointResume?: { savedStep: number; resumedAtStep: number; finalStep: number; maxSteps: number; error?: string };
}
interface GenerationFigures {
  tuneflowSummariesPerSec: number;
  seedSummariesPerSec: number;
  latencyMs: { p50: number; p95: number; samples: number };
  error?: string;
}
interface Figures {
  device: string;
  dryRun: boolean;
  peakFlops: { measured: number };
  missingPackages: Record<string, string>;
  training: Record<string, TrainFigures>;
  generation: Record<string, GenerationFigures>;
}

const TRAIN_CASES = ['small-plain', 'small-tuneflow', 'small-zero2', 'large-zero2', '3b-zero3-offload'];
const CUDA = hostHasCuda();
const dryRunTest = process.env.TUNEFLOW_SOAK === '1' || CUDA ? test : test.skip;
let figures: Figures;
let table: string;

beforeAll(async () => {
  if (dryRunTest === test.skip) return;
  const out = await tempDir('gpu-bench');
  // About 5 minutes on a quiet 2-core machine; twice that when other suites share its cores.
  await execa(pythonExecutable(), [path.join(REPO_ROOT, 'bench', 'gpu', 'gpu_bench.py'), '--out', out, '--dry-run'], { timeout: 840_000 });
  figures = JSON.parse(await readFile(path.join(out, 'figures.json'), 'utf8')) as Figures;
  table = await readFile(path.join(out, 'table.md'), 'utf8');
}, 900_000);

test('bench/gpu/prepared.json is what lib/config.ts, lib/deepspeed.ts and plan.py give now', async () => {
  expect(await readFile(PREPARED_PATH, 'utf8')).toBe(serialize(await prepared()));
});

dryRunTest('the dry run measures every training case: rates, MFU and the plan', () => {
  expect(figures.dryRun).toBe(true);
  expect(figures.missingPackages).toEqual({});
  expect(figures.peakFlops.measured).toBeGreaterThan(0);
  expect(Object.keys(figures.training)).toEqual(TRAIN_CASES);
  for (const name of TRAIN_CASES) {
    const f = figures.training[name];
    expect({ name, error: f.error }).toEqual({ name, error: undefined });
    expect(f.samplesPerSec).toBeGreaterThan(0);
    expect(f.tokensPerSec).toBeGreaterThan(f.samplesPerSec!);
    expect(f.mfuOfMeasuredMatmul).toBeGreaterThan(0);
    // The plan rounds to 0.01 GiB: the tiny model fully offloaded to the host plans 0 GiB per GPU.
    expect(f.planGpuGiB).toBeGreaterThanOrEqual(name === '3b-zero3-offload' ? 0 : 0.01);
  }
  for (const name of TRAIN_CASES.filter((n) => n !== 'small-plain')) expect(figures.training[name].bf16).toEqual(expect.any(Boolean));
});

dryRunTest('the resumed ZeRO-2 run continues at the saved step and finishes', () => {
  const resume = figures.training['small-zero2'].checkpointResume!;
  expect(resume.error).toBeUndefined();
  expect(resume.savedStep).toBeGreaterThan(0);
  expect(resume.resumedAtStep).toBe(resume.savedStep);
  expect(resume.finalStep).toBe(resume.maxSteps);
});

dryRunTest('generation: bulk rates on both paths and single-request latency, in the table too', () => {
  expect(Object.keys(figures.generation)).toEqual(['t5-small', 't5-large']);
  for (const f of Object.values(figures.generation)) {
    expect(f.error).toBeUndefined();
    expect(f.tuneflowSummariesPerSec).toBeGreaterThan(0);
    expect(f.seedSummariesPerSec).toBeGreaterThan(0);
    expect(f.latencyMs.p50).toBeGreaterThan(0);
    expect(f.latencyMs.p95).toBeGreaterThanOrEqual(f.latencyMs.p50);
  }
  for (const name of [...TRAIN_CASES, 't5-small', 't5-large']) expect(table).toContain(`| ${name} |`);
});

// GPU-only: reported as skipped on a host without CUDA.
(CUDA ? test : test.skip)('on a CUDA host: bf16 on, NCCL under DeepSpeed, peak GPU memory within the plan', () => {
  for (const name of TRAIN_CASES.filter((n) => n !== 'small-plain')) expect(figures.training[name].bf16).toBe(true);
  for (const name of ['small-zero2', 'large-zero2', '3b-zero3-offload']) expect(figures.training[name].distributedBackend).toBe('nccl');
  for (const name of TRAIN_CASES) {
    const f = figures.training[name];
    expect(f.peakGpuReservedGiB).toBeGreaterThan(0);
    expect(f.peakGpuReservedGiB).toBeLessThanOrEqual(f.planGpuGiB!);
  }
});
