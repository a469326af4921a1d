/**
 * A write refused by the storage itself (a read-only mount, a full volume, an exceeded quota) is
 * not the step's fault and not final: the person fixes the volume and the retry goes on. It is
 * reported as what it is, with the path and what to do, never as an anonymous `Error: EROFS...`.
 * The same three conditions as python/tuneflow_ml/events.py storage_fault.
 */
import { dirname } from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from './failures';

type StorageCode = 'EROFS' | 'ENOSPC' | 'EDQUOT';

const PROBLEMS: Record<StorageCode, { what: string; todo: string }> = {
  EROFS: { what: 'the file system is read-only', todo: 'Make it writable again (remount it read-write) or point storage.root at a writable volume' },
  ENOSPC: {
    what: 'no space is left on the device',
    todo: 'Free space on that volume (df shows it), lower train.keepCheckpoints, or point storage.root at a larger volume',
  },
  EDQUOT: { what: 'the disk quota is exceeded', todo: 'Raise the quota or free space in it' },
};

/** Libraries that do not throw Node's errors (DuckDB) still say it in words. */
const MESSAGES: [RegExp, StorageCode][] = [
  [/read-only file system/i, 'EROFS'],
  [/no space left on device/i, 'ENOSPC'],
  [/disk quota exceeded/i, 'EDQUOT'],
];

function storageCode(err: NodeJS.ErrnoException): StorageCode | null {
  const code = err.code;
  if (code === 'EROFS' || code === 'ENOSPC' || code === 'EDQUOT') return code;
  return MESSAGES.find(([pattern]) => pattern.test(err.message))?.[1] ?? null;
}

/** Node's fs errors come from its own realm (not `instanceof Error` under jest's VM): judged by shape. */
function asErrnoException(err: unknown): NodeJS.ErrnoException | null {
  return typeof err === 'object' && err !== null && typeof (err as Error).message === 'string' ? (err as NodeJS.ErrnoException) : null;
}

/** A retryable `StorageUnwritable` failure naming the path, when `err` is the storage refusing a write; else null. */
export function storageFault(err: unknown): ApplicationFailure | null {
  const error = asErrnoException(err);
  if (error === null) return null;
  const code = storageCode(error);
  if (code === null) return null;
  const file = error.path;
  const { what, todo } = PROBLEMS[code];
  const where = file ? `cannot write ${file}: ${what} (${code})` : `a write failed because ${what} (${error.message})`;
  return ApplicationFailure.create({
    type: FAILURE_TYPES.StorageUnwritable,
    message: `${where}. ${todo}: the step is retried by itself and goes on once the storage is writable.`,
    cause: error,
  });
}

/**
 * `mkdir -p` whose failure says why: Node's recursive mkdir reports a read-only file system as
 * ENOENT ("no such file or directory"), so on ENOENT the missing folders are made one at a time
 * and the first one refused throws its own error (EROFS with its path).
 */
export async function ensureDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const missing: string[] = [];
  for (let folder = dir; folder !== dirname(folder) && !(await isDirectory(folder)); folder = dirname(folder)) missing.unshift(folder);
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
