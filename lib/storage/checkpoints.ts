/**
 * Training checkpoints on the object store. Training writes each checkpoint to this worker's
 * cache as before; the uploader sends it in the background (the training processes never wait
 * on it) and writes the pointer `<pipeline>/train/latest-checkpoint.json` only once every file of
 * the checkpoint (DeepSpeed's per-rank shards included) is stored with the size and ETag computed
 * here. A half-uploaded checkpoint therefore never becomes the one a retry resumes from. Older
 * checkpoints beyond train.keepCheckpoints (and the best one, which the Trainer keeps) are deleted.
 *
 * A newer checkpoint supersedes one still waiting: the uploader always sends the newest, and the
 * heartbeat says how many steps the stored pointer lags behind training.
 */
import * as path from 'node:path';
import { readdir, readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { jsonOrNull } from '../json';
import { digestFile, type ObjectStore } from './object-store';
import { UploadWatch } from './upload-watch';
import type { CheckpointUploadStatus } from '../python-step/protocol';

export const StoredCheckpoint = z.object({
  /** `checkpoint-<step>`, under `<pipeline>/train/checkpoints/`. */
  checkpoint: z.string().regex(/^checkpoint-\d+$/),
  globalStep: z.number().int().nonnegative(),
  files: z.array(z.object({ path: z.string().min(1), size: z.number().int().nonnegative(), sha256: z.string(), etag: z.string() })).min(1),
  uploadedAt: z.string(),
});
export type StoredCheckpoint = z.infer<typeof StoredCheckpoint>;

const POINTER = 'latest-checkpoint.json';

/** The checkpoint the store's pointer names, or null when none was stored yet. */
export async function storedCheckpoint(store: ObjectStore, trainFolder: string): Promise<StoredCheckpoint | null> {
  const raw = await store.getJson(`${trainFolder}/${POINTER}`);
  if (raw === null) return null;
  const parsed = StoredCheckpoint.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${store.uri(`${trainFolder}/${POINTER}`)} is not a checkpoint pointer (${z.prettifyError(parsed.error)}); delete it to train from step 0`);
  }
  return parsed.data;
}

/** Downloads a stored checkpoint into `<localTrainDir>/checkpoints/<name>`, each file checked against the pointer. */
export async function downloadCheckpoint(store: ObjectStore, trainFolder: string, pointer: StoredCheckpoint, localTrainDir: string): Promise<string> {
  const dir = path.join(localTrainDir, 'checkpoints', pointer.checkpoint);
  for (const file of pointer.files) {
    const local = path.join(dir, file.path);
    const present = await stat(local).catch(() => null);
    if (present?.size === file.size && (await digestFile(local)).sha256 === file.sha256) continue;
    await store.download(`${trainFolder}/checkpoints/${pointer.checkpoint}/${file.path}`, local, file);
  }
  return dir;
}

export class CheckpointUploader {
  private newest: { path: string; step: number } | null = null;
  private storedStep: number | null;
  private uploading: { step: number; sent: number; total: number } | null = null;
  private running: Promise<void> | null = null;
  private readonly watch: UploadWatch;
  private rejectFailure: (error: Error) => void = () => undefined;
  /** Rejects when an upload fails past the store's retries or stalls; the step is then stopped. */
  readonly failure: Promise<never>;

  constructor(
    private readonly store: ObjectStore,
    /** `<pipeline id>/train` */
    private readonly trainFolder: string,
    private readonly keep: number,
    stallSeconds: number,
    alreadyStored: number | null,
  ) {
    this.storedStep = alreadyStored;
    this.watch = new UploadWatch(stallSeconds, () => `checkpoint-${this.uploading?.step ?? '?'} to ${store.uri(`${trainFolder}/checkpoints/`)}`);
    this.failure = new Promise<never>((_, reject) => (this.rejectFailure = reject));
    this.failure.catch(() => undefined);
  }

  /** A checkpoint training has just completed locally (the checkpoint event). */
  offer(checkpoint: { path: string; step: number }): void {
    if (this.newest && this.newest.step >= checkpoint.step) return;
    this.newest = checkpoint;
    this.running ??= this.drain().finally(() => (this.running = null));
  }

  status(): CheckpointUploadStatus {
    const newestStep = this.newest?.step ?? this.storedStep ?? 0;
    return {
      storedStep: this.storedStep,
      uploadingStep: this.uploading?.step ?? null,
      lagSteps: Math.max(0, newestStep - (this.storedStep ?? 0)),
      bytesSent: this.uploading?.sent ?? 0,
      bytesTotal: this.uploading?.total ?? 0,
    };
  }

  close(): void {
    this.watch.close();
  }

  private async drain(): Promise<void> {
    while (this.newest && this.newest.step > (this.storedStep ?? -1)) {
      const target = this.newest;
      try {
        await this.upload(target);
      } catch (error) {
        // The Trainer rotated this checkpoint away while it was sent: a newer one is there to send.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && this.newest.step > target.step) continue;
        this.rejectFailure(error as Error);
        return;
      } finally {
        this.uploading = null;
      }
    }
  }

  private async upload(checkpoint: { path: string; step: number }): Promise<void> {
    const name = path.basename(checkpoint.path);
    const files = (await readdir(checkpoint.path, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(checkpoint.path, path.join(entry.parentPath, entry.name)));
    const digests = await Promise.all(files.map(async (file) => ({ path: file, ...(await digestFile(path.join(checkpoint.path, file))) })));
    this.uploading = { step: checkpoint.step, sent: 0, total: digests.reduce((sum, d) => sum + d.size, 0) };
    for (const digest of digests) {
      let before = 0;
      await this.watch.run(() =>
        this.store.upload(`${this.trainFolder}/checkpoints/${name}/${digest.path.split(path.sep).join('/')}`, path.join(checkpoint.path, digest.path), digest, {
          signal: this.watch.signal,
          onProgress: (bytes) => {
            this.uploading!.sent += bytes - before;
            before = bytes;
            this.watch.progressed();
          },
        }),
      );
      this.uploading.sent += digest.size - before;
    }
    const pointer: StoredCheckpoint = { checkpoint: name, globalStep: checkpoint.step, files: digests, uploadedAt: new Date().toISOString() };
    await this.store.putJson(`${this.trainFolder}/${POINTER}`, pointer);
    this.storedStep = checkpoint.step;
    this.uploading = null;
    await this.prune(name, await bestCheckpointName(checkpoint.path));
  }

  /** Keeps the newest train.keepCheckpoints stored checkpoints, the pointer's and the best one; deletes the rest. */
  private async prune(current: string, best: string | null): Promise<void> {
    const objects = await this.store.list(`${this.trainFolder}/checkpoints`);
    const byCheckpoint = new Map<string, string[]>();
    for (const object of objects) {
      const name = object.key.slice(`${this.trainFolder}/checkpoints/`.length).split('/')[0];
      byCheckpoint.set(name, [...(byCheckpoint.get(name) ?? []), object.key]);
    }
    const steps = [...byCheckpoint.keys()].sort((a, b) => stepOf(b) - stepOf(a));
    const kept = new Set([current, ...steps.slice(0, this.keep), ...(best ? [best] : [])]);
    const doomed = steps.filter((name) => !kept.has(name) && stepOf(name) < stepOf(current)).flatMap((name) => byCheckpoint.get(name)!);
    if (doomed.length > 0) await this.store.delete(doomed);
  }
}

const stepOf = (name: string) => Number(/checkpoint-(\d+)$/.exec(name)?.[1] ?? -1);

/** The best checkpoint the Trainer tracks (train.evalEverySteps), as a folder name. */
async function bestCheckpointName(checkpointDir: string): Promise<string | null> {
  const state = jsonOrNull(await readFile(path.join(checkpointDir, 'trainer_state.json'), 'utf8').catch(() => '')) as { best_model_checkpoint?: unknown } | null;
  return typeof state?.best_model_checkpoint === 'string' ? path.basename(state.best_model_checkpoint) : null;
}
