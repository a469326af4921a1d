/**
 * The storage boundary of an activity when storage.root is s3://: what its input names is
 * fetched into this worker's cache first, the step runs on local files, and what it wrote (the
 * paths under its own step folder that its input or result names) is uploaded before it returns.
 * Its result then names artifacts by URI, so the next step may run on any worker. With a folder
 * root the activity runs as it is.
 */
import * as path from 'node:path';
import { readdir } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { PipelineConfig } from '../config';
import { stepDir, type StepName } from '../artifacts';
import { cacheDir, storageRoot, stringsIn, toLocalPaths, toStorageUris } from './location';
import { ObjectStore } from './object-store';
import { StepFolder, type Transferred } from './step-sync';
import { UploadWatch } from './upload-watch';

/**
 * What of the step's own folder travels beyond the paths its input and result name: `named`,
 * nothing else; `state`, its top-level files too (train: the pinned start model and the crash-loop
 * record, so a retry on another worker decides as the first did); `whole`, everything (summarize:
 * the plan and every shard's output and manifest, which its activities find by name).
 */
export type OwnFolder = 'named' | 'state' | 'whole';

export function throughStorage<I extends { pipelineId: string; config: unknown }, A extends unknown[], R>(
  step: StepName,
  activity: (input: I, ...rest: A) => Promise<R>,
  ownFolder: OwnFolder = 'named',
): (input: I, ...rest: A) => Promise<R> {
  return async (raw: I, ...rest: A) => {
    const parsed = PipelineConfig.safeParse(raw?.config);
    if (!parsed.success || storageRoot(parsed.data).kind === 'local') return activity(raw, ...rest);
    const config = parsed.data;
    const root = storageRoot(config) as Extract<ReturnType<typeof storageRoot>, { kind: 's3' }>;
    const store = new ObjectStore(root.bucket, root.prefix);
    const folderOf = (pipelineId: string, name: string) => new StepFolder(store, path.join(cacheDir(config), pipelineId, name), `${pipelineId}/${name}`);
    const own = folderOf(raw.pipelineId, step);

    await transferring(step, 'down', async (count) => {
      for (const uri of stringsIn([raw, rest], (text) => text.startsWith(`${root.uri}/`))) {
        const [pipelineId, name, ...within] = uri.slice(root.uri.length + 1).split('/');
        if (pipelineId && name) count(await folderOf(pipelineId, name).download(within.join('/')));
      }
      if (ownFolder !== 'named') count(await own.download('', { topLevelOnly: ownFolder === 'state' }));
    });

    const input = toLocalPaths(raw, config);
    const args = toLocalPaths(rest, config);
    const ownDir = stepDir(config, raw.pipelineId, step);
    const upload = async (result: unknown) => {
      const written = ownFolder === 'whole' ? [ownDir] : stringsIn([input, args, result], (text) => text.startsWith(`${ownDir}${path.sep}`));
      if (ownFolder === 'state') written.push(...(await topLevelFiles(ownDir)));
      const watch = new UploadWatch(config.storage.uploadStallSeconds, () => `${step} outputs to ${store.uri(`${raw.pipelineId}/${step}`)}`);
      try {
        await transferring(step, 'up', async (count) => count(await own.upload(written, watch)));
      } finally {
        watch.close();
      }
    };

    let result: R;
    try {
      result = await activity(input, ...args);
    } catch (error) {
      // What a failed attempt wrote (the crash-loop record) must reach the retry, wherever it runs.
      await upload(undefined).catch(() => undefined);
      throw error;
    }
    await upload(result);
    return toStorageUris(result, config);
  };
}

async function topLevelFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(dir, entry.name));
}

/**
 * Runs a transfer, heartbeating what moved (a large model's download can outlast the heartbeat
 * timeout); outside an activity it just runs.
 */
async function transferring(step: string, direction: 'up' | 'down', transfer: (count: (moved: Transferred) => void) => Promise<void>): Promise<Transferred> {
  const total: Transferred = { files: 0, bytes: 0 };
  let context: Context | null = null;
  try {
    context = Context.current();
  } catch {
    context = null;
  }
  const beat = () => context?.heartbeat({ step, transfer: { direction, ...total } });
  const timer = context ? setInterval(beat, 5_000) : null;
  try {
    await transfer((moved) => {
      total.files += moved.files;
      total.bytes += moved.bytes;
    });
    return total;
  } finally {
    if (timer) clearInterval(timer);
  }
}
