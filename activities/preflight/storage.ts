/**
 * The `storage` check: storage.root is writable, and its volume has room for what the training
 * config will write there (the checkpoints kept, the one being written, the final model).
 */
import { constants } from 'node:fs';
import { access, mkdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cacheDir, storageRoot } from '../../lib/storage/location';
import { ObjectStore } from '../../lib/storage/object-store';
import type { PipelineConfig } from '../../lib/config';
import { formatBytes } from '../../lib/byte-size';
import { nonRetryable } from '../../lib/failures';
import type { PlanResult } from '../../lib/steps';

/**
 * Bytes per parameter of one checkpoint: fp32 weights, plus the optimizer's state (AdamW keeps
 * two fp32 moments; Adafactor's factored moments are a few rows and columns per matrix) and, under
 * DeepSpeed, its fp32 master copy of the weights.
 */
function checkpointBytesPerParam(train: PipelineConfig['train']): number {
  return 4 + (train.optim === 'adamw_torch' ? 8 : 0) + (train.deepspeed !== null ? 4 : 0);
}

/** What training writes under storage.root at its peak, in bytes. */
export function checkpointBytesNeeded(train: PipelineConfig['train'], totalParams: number): number {
  const checkpoint = totalParams * checkpointBytesPerParam(train);
  return (train.keepCheckpoints + 1) * checkpoint + totalParams * 4;
}

/**
 * The reason, from the nearest folder that exists: a recursive mkdir under a read-only mount
 * fails as ENOENT, where access() on the existing parent says EROFS or EACCES.
 */
async function whyNotWritable(root: string, error: Error): Promise<string> {
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      if (!(await stat(dir)).isDirectory()) return `${dir} is a file, not a folder`;
      await access(dir, constants.W_OK);
      return error.message;
    } catch (reason) {
      const code = (reason as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dir === dirname(dir)) return `${dir}: ${(reason as Error).message}`;
    }
  }
}

export async function checkStorage(config: PipelineConfig, plan: Promise<PlanResult | null>): Promise<string> {
  const root = storageRoot(config);
  if (root.kind === 's3' && config.train.hostfile !== null) {
    throw nonRetryable(
      'InvalidConfig',
      `storage.root ${config.storage.root} with train.hostfile ${config.train.hostfile}: multi-node training needs its checkpoints on a volume ` +
        "every node mounts (each node writes its ranks' ZeRO shards itself), which an s3:// root is not yet. Use a shared folder as storage.root for multi-node training",
    );
  }
  const store = root.kind === 's3' ? await checkObjectStore(config, new ObjectStore(root.bucket, root.prefix)) : null;
  // With an s3:// root, checkpoints are written to the cache first: it needs the room a folder root would.
  const dir = root.kind === 's3' ? cacheDir(config) : root.dir;
  const field = root.kind === 's3' ? 'storage.cacheDir' : 'storage.root';
  const probe = join(dir, `.tuneflow-write-check-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, 'tuneflow preflight\n');
    await rm(probe, { force: true });
  } catch (error) {
    throw nonRetryable(
      'InvalidConfig',
      `${field} ${dir} is not writable on this host (${await whyNotWritable(dir, error as Error)}). ` +
        (root.kind === 's3'
          ? 'Point storage.cacheDir (or TUNEFLOW_CACHE_DIR on the worker) at a local folder the worker can write'
          : 'Point storage.root at a folder the workers can write (the same shared storage on every worker)'),
      error as Error,
    );
  }
  const { bavail, bsize } = await statfs(dir);
  const free = bavail * bsize;
  const where = store ? `${store}; cache ${dir}` : dir;
  const planned = await plan;
  if (planned === null) return `${where} writable; ${formatBytes(free)} free (checkpoint sizes unknown: the model check failed)`;
  const { totalParams, model } = planned;
  const needed = checkpointBytesNeeded(config.train, totalParams);
  const figures = `${formatBytes(free)} free; training ${model} writes up to about ${formatBytes(needed)}`;
  if (free < needed) {
    throw nonRetryable(
      'InvalidConfig',
      `${field} ${dir} has too little free space: ${figures} (train.keepCheckpoints ${config.train.keepCheckpoints} ` +
        `checkpoints, the one being written and the final model). Free space there, point ${field} at a larger ` +
        'volume, or lower train.keepCheckpoints',
    );
  }
  return `${where} writable; ${figures}`;
}

/**
 * The bucket answers, takes this worker's credentials and lets it write, read and delete under
 * the prefix: a probe object, written, checked and deleted. Each fault names the URI and the store's reason.
 */
async function checkObjectStore(config: PipelineConfig, store: ObjectStore): Promise<string> {
  const probe = `.tuneflow-preflight-${process.pid}-${Date.now()}.json`;
  try {
    await store.checkBucket();
    await store.putJson(probe, { preflight: config.name });
    if ((await store.getJson(probe)) === null) throw new Error(`${store.uri(probe)} was written but cannot be read back`);
    await store.delete([probe]);
  } catch (error) {
    throw nonRetryable(
      'InvalidConfig',
      `storage.root ${config.storage.root} cannot be used from this worker: ${(error as Error).message}`,
      error as Error,
    );
  }
  return `${config.storage.root} (${process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || 'AWS S3'})`;
}
