/**
 * The shards of the summarize step: what each one is (its job for the Python side), what decides
 * its output (its fingerprint), and whether it is finished.
 *
 * A shard writes `<step dir>/shards/<name>.parquet` (position, summary), then this side writes
 * its manifest `<name>.json`: a manifest exists only for a complete shard, and one whose
 * fingerprint matches (inputs, model, generation settings) is never generated again, whatever
 * worker or attempt made it.
 */
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { access, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { toStorageUris } from '../../lib/storage/location';
import { configHash, writeFileAtomic } from '../../lib/artifacts';
import { EngineUsed, GenerationSettings, ModelRef, type ShardJob, type ShardJobResult, type SummarizeInput } from '../../lib/steps';
import { shardName, shardRows, type InputsPlan, type ShardKind } from './plan';
import { jsonOrNull } from '../../lib/json';

const MANIFEST_VERSION = 2;

export const ShardManifest = z.object({
  version: z.literal(MANIFEST_VERSION),
  shard: z.string(),
  kind: z.enum(['products', 'reviews']),
  index: z.number().int().nonnegative(),
  /** The shard's parquet, beside the manifest. */
  output: z.string(),
  rows: z.number().int().nonnegative(),
  fingerprint: z.string(),
  model: ModelRef,
  generation: GenerationSettings,
  startedAt: z.string(),
  finishedAt: z.string(),
  seconds: z.number().nonnegative(),
  loadSeconds: z.number().nonnegative(),
  summariesPerSec: z.number().nonnegative().nullable(),
  latencySeconds: z.array(z.number().nonnegative()),
  device: z.string(),
  /** host:pid of the worker whose activity wrote it, and the pid of the engine that generated it. */
  worker: z.string(),
  enginePid: z.number().int().positive(),
  engine: EngineUsed,
});
export type ShardManifest = z.infer<typeof ShardManifest>;

export const shardDirOf = (stepDir: string) => join(stepDir, 'shards');

/** The settings every summary of a kind is made with: a review summary is a headline, with no minimum length. */
export function generationOf(input: SummarizeInput, kind: ShardKind): GenerationSettings {
  const { model, summarize, generation } = input.config;
  return GenerationSettings.parse({
    prefix: model.sourcePrefix,
    maxSourceLength: model.maxSourceLength,
    numBeams: summarize.numBeams,
    minNewTokens: kind === 'products' ? summarize.minNewTokens : 0,
    maxNewTokens: summarize.maxNewTokens,
    ...generation,
  });
}

export function modelOf(input: SummarizeInput): ModelRef {
  return { dir: input.modelDir, name: input.modelName, version: input.modelVersion };
}

/** One shard of the plan, with what it needs and what decides its output. */
export interface Shard {
  kind: ShardKind;
  index: number;
  name: string;
  job: ShardJob;
  fingerprint: string;
  manifestPath: string;
}

/**
 * Shard `index` of `kind`. The latency of one request is measured on the first shard of each
 * kind (model loaded, right after it), so the merge needs no model.
 */
export function shardOf(input: SummarizeInput, plan: InputsPlan, stepDir: string, kind: ShardKind, index: number): Shard {
  const name = shardName(kind, index);
  const dir = shardDirOf(stepDir);
  const { start, end } = shardRows(plan, kind, index);
  const job: ShardJob = {
    shard: name,
    kind,
    inputPath: plan[kind].path,
    start,
    end,
    outputPath: join(dir, `${name}.parquet`),
    model: modelOf(input),
    generation: generationOf(input, kind),
    batchSize: input.config.summarize.batchSize,
    latencySamples: index === 0 ? input.config.summarize.latencySamples : 0,
    engine: { name: input.config.summarize.engine, computeType: input.config.summarize.computeType },
  };
  // The rows of a shard follow from the cleaned file's content and the settings that cut it.
  const inputs = { cleaned: plan.cleaned.sha256, shardSize: plan.settings.shardSize, ...(kind === 'products' ? { minReviews: plan.settings.minReviews } : {}) };
  // The model by its storage URI: the same model wherever a worker keeps its copy.
  const model = toStorageUris(job.model, input.config);
  const fingerprint = configHash({ kind, index, inputs, model, generation: job.generation, engine: job.engine });
  return { kind, index, name, job, fingerprint, manifestPath: join(dir, `${name}.json`) };
}

/** Every shard of the plan, products first (the order workflows/bulk-summarize.ts gives them out). */
export function allShards(input: SummarizeInput, plan: InputsPlan, stepDir: string): Shard[] {
  return (['products', 'reviews'] as const).flatMap((kind) =>
    Array.from({ length: plan[kind].shards }, (_, index) => shardOf(input, plan, stepDir, kind, index)),
  );
}

/** The shard's manifest when it is finished for this fingerprint (its output present), else null. */
export async function finishedManifest(shard: Shard): Promise<ShardManifest | null> {
  const text = await readFile(shard.manifestPath, 'utf8').catch(() => null);
  if (text === null) return null;
  const parsed = ShardManifest.safeParse(jsonOrNull(text));
  if (!parsed.success || parsed.data.fingerprint !== shard.fingerprint) return null;
  const present = await access(join(dirname(shard.manifestPath), parsed.data.output)).then(
    () => true,
    () => false,
  );
  return present ? parsed.data : null;
}

/** Marks the shard finished: its parquet is complete (the Python side wrote it through a rename). */
export async function writeManifest(shard: Shard, result: ShardJobResult, startedAt: Date): Promise<ShardManifest> {
  const manifest: ShardManifest = {
    version: MANIFEST_VERSION,
    shard: shard.name,
    kind: shard.kind,
    index: shard.index,
    output: `${shard.name}.parquet`,
    rows: result.rows,
    fingerprint: shard.fingerprint,
    model: shard.job.model,
    generation: shard.job.generation,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    seconds: result.seconds,
    loadSeconds: result.loadSeconds,
    summariesPerSec: result.seconds > 0 ? result.rows / result.seconds : null,
    latencySeconds: result.latencySeconds,
    device: result.device,
    worker: `${hostname()}:${process.pid}`,
    enginePid: result.pid,
    engine: result.engine,
  };
  await writeFileAtomic(shard.manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
