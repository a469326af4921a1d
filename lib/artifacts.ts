/**
 * Where a pipeline's artifacts live: `<storage.root>/<pipeline id>/<step>/`, on this worker's
 * disk (its cache of an s3:// root: lib/storage/location.ts).
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { PipelineConfig } from './config';
import { InvalidConfigError } from './failures';
import { ensureDirectory } from './storage-fault';
import { localRoot } from './storage/location';

/** The repository root (storage paths in configs are relative to it). */
export const REPO_ROOT = path.resolve(__dirname, '..');

export type StepName = 'clean' | 'split' | 'train' | 'evaluate' | 'register' | 'summarize' | 'report';

export function resolveFromRepo(p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(REPO_ROOT, p);
}

export function stepDir(config: PipelineConfig, pipelineId: string, step: StepName): string {
  // The pipeline id is a workflow id, chosen by whoever starts it: it must stay one folder.
  if (pipelineId === '.' || pipelineId === '..' || /[/\\\0]/.test(pipelineId)) {
    throw new InvalidConfigError(
      `pipeline id ${JSON.stringify(pipelineId)}`,
      'it cannot name a folder under storage.root: use letters, digits, "-", "_", "." or ":"',
    );
  }
  return path.join(localRoot(config), pipelineId, step);
}

export async function ensureStepDir(config: PipelineConfig, pipelineId: string, step: StepName): Promise<string> {
  const dir = stepDir(config, pipelineId, step);
  await ensureDirectory(dir);
  return dir;
}


/** A unique sibling name for writing `finalPath` before renaming it into place. */
export function tempPathFor(finalPath: string): string {
  return `${finalPath}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Writes via a temp file and rename, so readers never see half a file. */
export async function writeFileAtomic(finalPath: string, contents: string): Promise<void> {
  const temp = tempPathFor(finalPath);
  try {
    await writeFile(temp, contents);
    await rename(temp, finalPath);
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * sha256 of a JSON value with object keys sorted at every depth: the same settings hash the same
 * whatever their order, and a change anywhere (a nested column mapping, a file's mtime) changes it.
 */
export function configHash(value: unknown): string {
  const sortedKeys = (_key: string, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item;
  return createHash('sha256').update(JSON.stringify(value, sortedKeys)).digest('hex');
}

/** A string literal for DuckDB SQL. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A quoted identifier for DuckDB SQL (a column name from the config may hold any character). */
export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
