/**
 * Where a retried train resumes: the newest complete checkpoint among this worker's pointer file,
 * the last heartbeat and, with an s3:// storage.root, the store's pointer (downloaded into this
 * worker's cache when it is newer than anything here). And, with an s3:// root, the uploader that
 * sends each new checkpoint to the store while training goes on (lib/storage/checkpoints.ts).
 */
import * as path from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import type { PipelineConfig } from '../../lib/config';
import { writeFileAtomic } from '../../lib/artifacts';
import { InvalidDataError } from '../../lib/failures';
import { StepHeartbeat, type StepSidecar } from '../../lib/python-step';
import { storageRoot } from '../../lib/storage/location';
import { ObjectStore } from '../../lib/storage/object-store';
import { CheckpointUploader, downloadCheckpoint, storedCheckpoint } from '../../lib/storage/checkpoints';

const LatestCheckpoint = z.object({ checkpoint: z.string(), globalStep: z.number().int().nonnegative() });
export type LatestCheckpoint = z.infer<typeof LatestCheckpoint>;

/** The store and the train folder's key when storage.root is s3://; null for a folder root. */
function trainStore(config: PipelineConfig, pipelineId: string): { store: ObjectStore; folder: string } | null {
  const root = storageRoot(config);
  return root.kind === 's3' ? { store: new ObjectStore(root.bucket, root.prefix), folder: `${pipelineId}/train` } : null;
}

/** The checkpoint this attempt resumes from, fetched from the store when only the store has it. */
export async function resumePoint(config: PipelineConfig, pipelineId: string, outputDir: string): Promise<LatestCheckpoint | null> {
  // The heartbeat may name another worker's cache (the attempt before ran elsewhere): only this folder's count.
  const beat = heartbeatCheckpoint();
  const local = await latestCompleteCheckpoint(outputDir, beat && isInside(beat.checkpoint, outputDir) ? beat : null);
  const remote = trainStore(config, pipelineId);
  if (remote === null) return local;
  const stored = await storedCheckpoint(remote.store, remote.folder);
  if (stored === null || (local !== null && local.globalStep >= stored.globalStep)) return local;
  const checkpoint = await downloadCheckpoint(remote.store, remote.folder, stored, outputDir);
  const fetched = { checkpoint, globalStep: stored.globalStep };
  await writeFileAtomic(path.join(outputDir, 'latest-checkpoint.json'), JSON.stringify(fetched));
  return fetched;
}

const isInside = (file: string, dir: string) => !path.relative(path.resolve(dir), path.resolve(file)).startsWith('..');

/** With an s3:// root: each checkpoint event starts its upload; the heartbeat carries how far the store lags. */
export async function checkpointUploads(config: PipelineConfig, pipelineId: string): Promise<(StepSidecar & { close(): void }) | null> {
  const remote = trainStore(config, pipelineId);
  if (remote === null) return null;
  const stored = await storedCheckpoint(remote.store, remote.folder);
  const uploader = new CheckpointUploader(remote.store, remote.folder, config.train.keepCheckpoints, config.storage.uploadStallSeconds, stored?.globalStep ?? null);
  return {
    onEvent: (event) => {
      if (event.event === 'checkpoint') uploader.offer(event);
    },
    heartbeat: () => ({ upload: uploader.status() }),
    failure: uploader.failure,
    result: () => {
      const { storedStep, lagSteps } = uploader.status();
      return { checkpointUploads: { storedStep, lagSteps } };
    },
    close: () => uploader.close(),
  };
}

function heartbeatCheckpoint(): LatestCheckpoint | null {
  let details: unknown;
  try {
    details = Context.current().info.heartbeatDetails;
  } catch {
    return null;
  }
  const parsed = StepHeartbeat.safeParse(details);
  const checkpoint = parsed.success ? parsed.data.checkpoint : null;
  return checkpoint ? { checkpoint: checkpoint.path, globalStep: checkpoint.step } : null;
}

/** The newer of the pointer file and the heartbeat, if its directory is complete on disk. */
export async function latestCompleteCheckpoint(
  outputDir: string,
  fromHeartbeat: LatestCheckpoint | null,
): Promise<LatestCheckpoint | null> {
  const candidates = [await readPointer(outputDir), fromHeartbeat]
    .filter((c): c is LatestCheckpoint => c !== null)
    .sort((a, b) => b.globalStep - a.globalStep);
  for (const candidate of candidates) {
    if (await isCompleteCheckpoint(candidate.checkpoint)) return candidate;
  }
  return null;
}

/**
 * The pointer file's checkpoint, null when there is no pointer. A pointer that cannot be read or
 * parsed must not restart training from step 0 unnoticed: the newest complete checkpoint on disk
 * stands in for it, and without one the step fails, saying what to do.
 */
async function readPointer(outputDir: string): Promise<LatestCheckpoint | null> {
  const file = path.join(outputDir, 'latest-checkpoint.json');
  let problem: string;
  try {
    const parsed = LatestCheckpoint.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (parsed.success) return parsed.data;
    problem = `it is not {"checkpoint": <dir>, "globalStep": <n>} (${z.prettifyError(parsed.error)})`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    problem = `it cannot be read as JSON (${(error as Error).message})`;
  }
  const checkpoints = path.join(path.resolve(outputDir), 'checkpoints');
  const newest = await newestCompleteCheckpoint(checkpoints);
  if (newest) return newest;
  throw new InvalidDataError(
    file,
    `${problem}, and ${checkpoints} holds no complete checkpoint-<step> directory to resume from instead`,
    `Delete ${file} to train from step 0, or rewrite it to name a complete checkpoint (one with a readable trainer_state.json), then retry.`,
  );
}

/** The highest-numbered `checkpoint-<step>` under `dir` that is complete, as the Trainer names them. */
async function newestCompleteCheckpoint(dir: string): Promise<LatestCheckpoint | null> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const steps = names
    .map((name) => /^checkpoint-(\d+)$/.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => b - a);
  for (const globalStep of steps) {
    const checkpoint = path.join(dir, `checkpoint-${globalStep}`);
    if (await isCompleteCheckpoint(checkpoint)) return { checkpoint, globalStep };
  }
  return null;
}

const TrainerState = z.object({ global_step: z.number().int().nonnegative() });

/**
 * The Trainer writes trainer_state.json last, but not atomically: a checkpoint is complete when
 * that file parses and names its step (a disk that filled mid-save can leave it cut short). The
 * same rule as python/tuneflow_ml/checkpoints.py is_complete_checkpoint.
 */
async function isCompleteCheckpoint(dir: string): Promise<boolean> {
  try {
    return TrainerState.safeParse(JSON.parse(await readFile(path.join(dir, 'trainer_state.json'), 'utf8'))).success;
  } catch {
    return false;
  }
}
