/**
 * The `storage` check: storage.root is writable, and its volume has room for what the training
 * config will write there (the checkpoints kept, the one being written, the final model).
 */
import { constants } from 'node:fs';
import { access, mkdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveFromRepo } from '../../lib/artifacts';
import type { PipelineConfig } from '../../lib/config';
import { nonRetryable } from '../../lib/failures';
import type { PlanResult } from '../../lib/steps';

const GIB = 2 ** 30;

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

/** 1.5 GiB, 12.0 MiB: small models' checkpoints are megabytes. */
function size(bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export async function checkStorage(config: PipelineConfig, plan: Promise<PlanResult | null>): Promise<string> {
  const root = resolveFromRepo(config.storage.root);
  const probe = join(root, `.tuneflow-write-check-${process.pid}`);
  try {
    await mkdir(root, { recursive: true });
    await writeFile(probe, 'tuneflow preflight\n');
    await rm(probe, { force: true });
  } catch (error) {
    throw nonRetryable(
      'InvalidConfig',
      `storage.root ${root} is not writable on this host (${await whyNotWritable(root, error as Error)}). ` +
        'Point storage.root at a folder the workers can write (the same shared storage on every worker)',
      error as Error,
    );
  }
  const { bavail, bsize } = await statfs(root);
  const free = bavail * bsize;
  const planned = await plan;
  if (planned === null) return `${root} writable; ${size(free)} free (checkpoint sizes unknown: the model check failed)`;
  const { totalParams, model } = planned;
  const needed = checkpointBytesNeeded(config.train, totalParams);
  const figures = `${size(free)} free; training ${model} writes up to about ${size(needed)}`;
  if (free < needed) {
    throw nonRetryable(
      'InvalidConfig',
      `storage.root ${root} has too little free space: ${figures} (train.keepCheckpoints ${config.train.keepCheckpoints} ` +
        'checkpoints, the one being written and the final model). Free space there, point storage.root at a larger ' +
        'volume, or lower train.keepCheckpoints',
    );
  }
  return `${root} writable; ${figures}`;
}
