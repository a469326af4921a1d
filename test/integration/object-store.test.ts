/**
 * The object-store layer against a real S3 server (SeaweedFS, its own on loopback): verified
 * uploads and downloads, step folders that move only what changed, checkpoints whose pointer is
 * written only once every file is stored, retention, a stalled upload that fails loudly, and the
 * preflight's words for an unknown bucket, refused credentials and an endpoint that does not answer.
 */
import * as path from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { digestFile, ObjectStore } from '../../lib/storage/object-store';
import { StepFolder } from '../../lib/storage/step-sync';
import { UploadWatch } from '../../lib/storage/upload-watch';
import { CheckpointUploader, downloadCheckpoint, storedCheckpoint } from '../../lib/storage/checkpoints';
import { checkStorage } from '../../activities/preflight/storage';
import { parseConfig } from '../../lib/config';
import { startSeaweedS3, type SeaweedS3 } from '../helpers/seaweedfs';
import { tempDir } from '../helpers/environment';

let s3: SeaweedS3;
let dir: string;
const saved = { ...process.env };

beforeAll(async () => {
  dir = await tempDir('object-store');
  s3 = await startSeaweedS3(path.join(dir, 'seaweedfs'));
  Object.assign(process.env, s3.env);
}, 90_000);

afterAll(async () => {
  process.env = saved;
  await s3?.stop();
});

async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, contents] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), contents);
  }
}

test('a step folder goes up verified, moves nothing twice, and comes down whole on another cache', async () => {
  const store = new ObjectStore(s3.bucket, 'folders');
  const localA = path.join(dir, 'cache-a', 'p1', 'clean');
  // Past one 16 MiB part: a multipart upload, whose ETag is checked as the store computes it.
  await writeTree(localA, { 'cleaned.parquet': randomBytes(17 * 2 ** 20), 'parts/0.parquet': 'zero', 'deepspeed_env': 'TOKEN=secret' });
  const watch = new UploadWatch(30, () => 'clean');
  const a = new StepFolder(store, localA, 'p1/clean');
  try {
    expect(await a.upload([path.join(localA, 'cleaned.parquet'), path.join(localA, 'parts'), path.join(localA, 'deepspeed_env')], watch)).toEqual({
      files: 2,
      bytes: 17 * 2 ** 20 + 4,
    });
    // Unchanged: nothing moves. The launcher environment never leaves the worker.
    expect(await a.upload([localA], watch)).toEqual({ files: 0, bytes: 0 });
  } finally {
    watch.close();
  }
  expect((await store.list('p1/clean')).map((o) => o.key).sort()).toEqual(['p1/clean/cleaned.parquet', 'p1/clean/parts/0.parquet']);

  const localB = path.join(dir, 'cache-b', 'p1', 'clean');
  const b = new StepFolder(store, localB, 'p1/clean');
  expect(await b.download('parts')).toEqual({ files: 1, bytes: 4 });
  expect(await b.download('')).toEqual({ files: 1, bytes: 17 * 2 ** 20 });
  expect(await b.download('')).toEqual({ files: 0, bytes: 0 });
  // Buffer.equals: jest's deep equality walks 17 M bytes one by one.
  expect((await readFile(path.join(localB, 'cleaned.parquet'))).equals(await readFile(path.join(localA, 'cleaned.parquet')))).toBe(true);
  // Nothing stored at a path (an output not written yet): nothing to do.
  expect(await b.download('summaries.parquet')).toEqual({ files: 0, bytes: 0 });
});

test('an object changed in the store under its recorded sha256 is refused on download, naming it', async () => {
  const store = new ObjectStore(s3.bucket, 'damaged');
  const local = path.join(dir, 'damaged-a');
  await writeTree(local, { 'model.bin': 'the weights' });
  const watch = new UploadWatch(30, () => 'model');
  await new StepFolder(store, local, 'p/train').upload([path.join(local, 'model.bin')], watch).finally(() => watch.close());
  const [stored] = await store.list('p/train');
  const meta = (await s3.client().send(new PutObjectCommand({ Bucket: s3.bucket, Key: `damaged/${stored.key}`, Body: 'the weightz', Metadata: { sha256: 'f'.repeat(64) } })));
  expect(meta.ETag).toBeDefined();
  await expect(store.download(stored.key, path.join(dir, 'damaged-b', 'model.bin'))).rejects.toThrow(
    /s3:\/\/tuneflow-test\/damaged\/p\/train\/model\.bin came down as 11 bytes with sha256 \w+, expected 11 bytes with sha256 f{64}/,
  );
});

test('an upload whose stored bytes are not the ones hashed (the file changed in between) is refused, naming both ETags', async () => {
  const store = new ObjectStore(s3.bucket, 'changed');
  const file = path.join(dir, 'changed', 'model.bin');
  await writeTree(path.dirname(file), { 'model.bin': 'the weights' });
  const hashed = await digestFile(file);
  await writeFile(file, 'the weightz');
  await expect(store.upload('p/train/model.bin', file, hashed)).rejects.toThrow(
    new RegExp(`s3://tuneflow-test/changed/p/train/model\\.bin does not hold what was sent from .*model\\.bin: ETag \\w+, expected 11 bytes with ETag ${hashed.etag}`),
  );
});

/** A Trainer-like checkpoint folder: weights, a ZeRO shard per rank, trainer_state.json. */
async function checkpoint(root: string, step: number, best?: number): Promise<{ path: string; step: number }> {
  const folder = path.join(root, 'checkpoints', `checkpoint-${step}`);
  await writeTree(folder, {
    'model.safetensors': randomBytes(4096),
    [`global_step${step}/zero_pp_rank_0_mp_rank_00_optim_states.pt`]: randomBytes(2048),
    [`global_step${step}/zero_pp_rank_1_mp_rank_00_optim_states.pt`]: randomBytes(2048),
    'trainer_state.json': JSON.stringify({ global_step: step, best_model_checkpoint: best ? path.join(root, 'checkpoints', `checkpoint-${best}`) : null }),
  });
  return { path: folder, step };
}

async function settled(uploader: CheckpointUploader, step: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (uploader.status().storedStep !== step) {
    if (Date.now() > deadline) throw new Error(`checkpoint-${step} not stored: ${JSON.stringify(uploader.status())}`);
    await Promise.race([uploader.failure, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
}

test('checkpoints: the pointer names only fully stored ones, retention keeps the newest and the best, any cache resumes', async () => {
  const store = new ObjectStore(s3.bucket, 'ckpt');
  const local = path.join(dir, 'ckpt-a', 'p', 'train');
  const uploader = new CheckpointUploader(store, 'p/train', 2, 30, null);
  try {
    for (const step of [10, 20, 30, 40]) {
      uploader.offer(await checkpoint(local, step, 10));
      await settled(uploader, step);
    }
    expect(uploader.status()).toEqual({ storedStep: 40, uploadingStep: null, lagSteps: 0, bytesSent: 0, bytesTotal: 0 });
  } finally {
    uploader.close();
  }
  const pointer = (await storedCheckpoint(store, 'p/train'))!;
  expect([pointer.checkpoint, pointer.globalStep, pointer.files.length]).toEqual(['checkpoint-40', 40, 4]);
  // keepCheckpoints 2 (30, 40) and the best one (10); 20 is deleted from the store.
  const names = new Set((await store.list('p/train/checkpoints')).map((o) => o.key.split('/')[3]));
  expect([...names].sort()).toEqual(['checkpoint-10', 'checkpoint-30', 'checkpoint-40']);

  const elsewhere = path.join(dir, 'ckpt-b', 'p', 'train');
  const fetched = await downloadCheckpoint(store, 'p/train', pointer, elsewhere);
  expect(fetched).toBe(path.join(elsewhere, 'checkpoints', 'checkpoint-40'));
  for (const file of pointer.files) expect(await readFile(path.join(fetched, file.path))).toEqual(await readFile(path.join(local, 'checkpoints', 'checkpoint-40', file.path)));
});

test('an upload into a store that stopped answering fails as UploadStalled after storage.uploadStallSeconds; the pointer stays', async () => {
  const store = new ObjectStore(s3.bucket, 'stall');
  const local = path.join(dir, 'stall', 'p', 'train');
  const uploader = new CheckpointUploader(store, 'p/train', 2, 2, null);
  try {
    uploader.offer(await checkpoint(local, 5));
    await settled(uploader, 5);
    process.kill(s3.pid, 'SIGSTOP');
    const stalledAt = Date.now();
    uploader.offer(await checkpoint(local, 10));
    const failure = await uploader.failure.catch((error: Error) => error);
    expect(failure).toMatchObject({ name: 'UploadStalled' });
    expect((failure as Error).message).toMatch(/the upload of checkpoint-10 to s3:\/\/tuneflow-test\/stall\/p\/train\/checkpoints\/ moved no byte for 2 s/);
    expect(Date.now() - stalledAt).toBeLessThan(15_000);
  } finally {
    process.kill(s3.pid, 'SIGCONT');
    uploader.close();
  }
  expect((await storedCheckpoint(store, 'p/train'))?.globalStep).toBe(5);
});

describe('the preflight of an s3:// storage.root', () => {
  const configFor = (root: string) => parseConfig({ storage: { root, cacheDir: path.join(dir, 'preflight-cache') } });
  let saved: NodeJS.ProcessEnv;
  beforeEach(() => {
    saved = { ...process.env };
  });
  afterEach(() => {
    process.env = saved;
  });

  test('a hostfile with an s3:// root is refused: the nodes would keep their shards on their own disks', async () => {
    const config = parseConfig({ storage: { root: `s3://${s3.bucket}/runs` }, train: { hostfile: 'hostfile', deepspeed: { stage: 2 } } });
    await expect(checkStorage(config, Promise.resolve(null))).rejects.toThrow(/with train\.hostfile hostfile: multi-node training needs its checkpoints on a volume every node mounts/);
  });

  test('a writable bucket passes, naming the endpoint', async () => {
    await expect(checkStorage(configFor(`s3://${s3.bucket}/runs`), Promise.resolve(null))).resolves.toMatch(
      new RegExp(`^s3://${s3.bucket}/runs \\(${s3.endpoint.replaceAll('.', '\\.')}\\); cache .* writable`),
    );
  });

  test('an unknown bucket, refused credentials, and an endpoint nothing answers: each with the URI and the reason', async () => {
    await expect(checkStorage(configFor('s3://no-such-bucket/runs'), Promise.resolve(null))).rejects.toThrow(
      /storage\.root s3:\/\/no-such-bucket\/runs cannot be used from this worker: .*NoSuchBucket: the bucket does not exist at http:\/\/127\.0\.0\.1:\d+; create it/,
    );
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    await expect(checkStorage(configFor(`s3://${s3.bucket}/runs`), Promise.resolve(null))).rejects.toThrow(
      new RegExp(`storage\\.root s3://${s3.bucket}/runs cannot be used from this worker: .*the store refused this worker's credentials; check AWS_ACCESS_KEY_ID`),
    );
    process.env = { ...saved, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' };
    await expect(checkStorage(configFor(`s3://${s3.bucket}/runs`), Promise.resolve(null))).rejects.toThrow(
      /cannot be used from this worker: .*ECONNREFUSED: nothing answered at http:\/\/127\.0\.0\.1:1; check AWS_ENDPOINT_URL/,
    );
  });
});
