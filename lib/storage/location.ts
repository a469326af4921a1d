/**
 * Where a pipeline's artifacts live. A folder root is used as it is. An `s3://bucket/prefix`
 * root keeps the same layout as object keys, `<prefix>/<pipeline id>/<step>/...`, and each worker
 * works on a local copy of it under its cache folder: the steps (TypeScript and Python alike) read
 * and write local files, the storage boundary (boundary.ts) moves them.
 *
 * Step results name artifacts by their storage URI (`s3://bucket/prefix/<pipeline>/<step>/file`),
 * never by one worker's cache path, so whichever worker runs the next step finds them.
 */
import * as path from 'node:path';
import type { PipelineConfig } from '../config';
import { resolveFromRepo } from '../artifacts';

export type StorageRoot = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string; uri: string };

export function storageRoot(config: PipelineConfig): StorageRoot {
  const root = config.storage.root;
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(root);
  if (!s3) return { kind: 'local', dir: resolveFromRepo(root) };
  const prefix = s3[2].replace(/\/+$/, '');
  return { kind: 's3', bucket: s3[1], prefix, uri: `s3://${s3[1]}${prefix ? `/${prefix}` : ''}` };
}

/** This worker's cache folder: TUNEFLOW_CACHE_DIR, else storage.cacheDir. */
export function cacheDir(config: PipelineConfig): string {
  return resolveFromRepo(process.env.TUNEFLOW_CACHE_DIR || config.storage.cacheDir);
}

/** The local folder that mirrors storage.root on this worker (the root itself for a folder root). */
export function localRoot(config: PipelineConfig): string {
  const root = storageRoot(config);
  return root.kind === 'local' ? root.dir : cacheDir(config);
}

/** Every string in `value` that names a storage URI, as this worker's local path (deep, a copy). */
export function toLocalPaths<T>(value: T, config: PipelineConfig): T {
  const root = storageRoot(config);
  return root.kind === 'local' ? value : swapPrefix(value, `${root.uri}/`, `${localRoot(config)}${path.sep}`);
}

/** Every string in `value` under this worker's local root, as its storage URI (deep, a copy). */
export function toStorageUris<T>(value: T, config: PipelineConfig): T {
  const root = storageRoot(config);
  return root.kind === 'local' ? value : swapPrefix(value, `${localRoot(config)}${path.sep}`, `${root.uri}/`);
}

/** Every distinct string anywhere in `value` (objects and arrays, at any depth) that `wanted` accepts. */
export function stringsIn(value: unknown, wanted: (text: string) => boolean): string[] {
  const found = new Set<string>();
  const visit = (item: unknown): void => {
    if (typeof item === 'string') {
      if (wanted(item)) found.add(item);
    } else if (Array.isArray(item)) item.forEach(visit);
    else if (item !== null && typeof item === 'object') Object.values(item).forEach(visit);
  };
  visit(value);
  return [...found];
}

function swapPrefix<T>(value: T, from: string, to: string): T {
  const swap = (item: unknown): unknown => {
    if (typeof item === 'string') return item.startsWith(from) ? to + item.slice(from.length) : item;
    if (Array.isArray(item)) return item.map(swap);
    if (item !== null && typeof item === 'object') return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, swap(v)]));
    return item;
  };
  return swap(value) as T;
}
