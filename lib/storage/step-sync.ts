/**
 * Moving a step's files between this worker's cache and the object store, file by file, each
 * verified (object-store.ts). A record in each local step folder (`.tuneflow-synced.json`)
 * remembers what was moved (size, mtime, ETag), so nothing identical moves twice: a retry on the
 * same worker re-reads nothing, and one on another worker fetches only what it lacks.
 */
import * as path from 'node:path';
import { readdir, readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../artifacts';
import { jsonOrNull } from '../json';
import { ensureDirectory } from '../storage-fault';
import { digestFile, type ObjectStore } from './object-store';
import type { UploadWatch } from './upload-watch';

const RECORD = '.tuneflow-synced.json';

const SyncedFile = z.object({ size: z.number(), mtimeMs: z.number(), etag: z.string() });
const SyncRecord = z.record(z.string(), SyncedFile);
type SyncRecord = z.infer<typeof SyncRecord>;

/**
 * Never leaves the worker: the per-attempt launcher environment (it holds the events token and
 * forwarded credentials), sockets, temp files of atomic writes, the record itself; checkpoints move
 * by the checkpoint uploader only, and the local pointer names this worker's paths.
 */
export function staysLocal(relative: string): boolean {
  const name = path.basename(relative);
  const parts = relative.split(/[\\/]/);
  return (
    name === RECORD ||
    name === 'deepspeed_env' ||
    name === 'latest-checkpoint.json' ||
    name.endsWith('.sock') ||
    parts.some((part) => /\.tmp-\d+(-|$)/.test(part)) ||
    parts.includes('checkpoints')
  );
}

export interface Transferred {
  files: number;
  bytes: number;
}

/** One step folder's local copy (`<cache>/<pipeline>/<step>`) and its keys (`<pipeline>/<step>/...`). */
export class StepFolder {
  private static locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly store: ObjectStore,
    readonly localDir: string,
    /** `<pipeline id>/<step>`: the folder's key under the store's prefix. */
    readonly relative: string,
  ) {}

  /** Uploads the files at these local paths under the folder (a file, or a folder's files), changed ones only. */
  async upload(localPaths: string[], watch: UploadWatch): Promise<Transferred> {
    const record = await this.readRecord();
    const files = new Set<string>();
    for (const local of localPaths) for (const file of await filesUnder(local)) files.add(file);
    const done: SyncRecord = {};
    let bytes = 0;
    await inBatches([...files], 4, async (file) => {
      const relative = path.relative(this.localDir, file);
      if (relative.startsWith('..') || staysLocal(relative)) return;
      const { size, mtimeMs } = await stat(file);
      const known = record[relative];
      if (known && known.size === size && known.mtimeMs === mtimeMs) return;
      const digest = await digestFile(file);
      await watch.run(() => this.store.upload(this.key(relative), file, digest, { signal: watch.signal, onProgress: () => watch.progressed() }));
      done[relative] = { size, mtimeMs, etag: digest.etag };
      bytes += size;
    });
    await this.mergeRecord(done);
    return { files: Object.keys(done).length, bytes };
  }

  /**
   * Downloads the objects at this URI-relative path (one object, or all under it as a folder)
   * that the local copy lacks or holds in another version. Nothing stored there: nothing to do.
   */
  async download(relativePath: string, options: { topLevelOnly?: boolean } = {}): Promise<Transferred> {
    const record = await this.readRecord();
    const under = await this.store.list(relativePath === '' ? this.relative : this.key(relativePath));
    const single = under.length === 0 && relativePath !== '' ? await this.store.head(this.key(relativePath)) : null;
    const objects = single ? [single] : under;
    const done: SyncRecord = {};
    let bytes = 0;
    await inBatches(objects, 4, async (object) => {
      const relative = object.key.slice(this.relative.length + 1);
      if (staysLocal(relative) || (options.topLevelOnly && relative.includes('/'))) return;
      const file = path.join(this.localDir, relative);
      const known = record[relative];
      const local = await stat(file).catch(() => null);
      if (known && local && known.etag === object.etag && known.size === local.size && known.mtimeMs === local.mtimeMs) return;
      await this.store.download(object.key, file);
      done[relative] = { size: object.size, mtimeMs: (await stat(file)).mtimeMs, etag: object.etag };
      bytes += object.size;
    });
    await this.mergeRecord(done);
    return { files: Object.keys(done).length, bytes };
  }

  private key(relative: string): string {
    return `${this.relative}/${relative.split(path.sep).join('/')}`;
  }

  private async readRecord(): Promise<SyncRecord> {
    const text = await readFile(path.join(this.localDir, RECORD), 'utf8').catch(() => '{}');
    const parsed = SyncRecord.safeParse(jsonOrNull(text));
    return parsed.success ? parsed.data : {};
  }

  /** Activities of one step that run side by side in this process each add their entries. */
  private async mergeRecord(entries: SyncRecord): Promise<void> {
    if (Object.keys(entries).length === 0) return;
    const previous = StepFolder.locks.get(this.localDir) ?? Promise.resolve();
    const next = previous.then(async () => {
      await ensureDirectory(this.localDir);
      await writeFileAtomic(path.join(this.localDir, RECORD), JSON.stringify({ ...(await this.readRecord()), ...entries }));
    });
    StepFolder.locks.set(this.localDir, next.catch(() => undefined));
    await next;
  }
}

/** The files at `local`: itself if a file, its files at any depth if a folder, none if nothing is there. */
async function filesUnder(local: string): Promise<string[]> {
  const info = await stat(local).catch(() => null);
  if (info === null) return [];
  if (!info.isDirectory()) return [local];
  const entries = await readdir(local, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

async function inBatches<T>(items: T[], width: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await each(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}
