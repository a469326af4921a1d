/**
 * test/helpers/seaweedfs.ts: a test's own SeaweedFS S3 server takes a verified upload (ContentMD5)
 * and gives the bytes back, refuses a wrong secret, and is gone, ports and all, after stop().
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startSeaweedS3, type SeaweedS3 } from '../helpers/seaweedfs';
import { tempDir } from '../helpers/environment';

let dir: string;
let s3: SeaweedS3 | undefined;

beforeAll(async () => {
  dir = await tempDir('seaweedfs-helper');
});

afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('starts, stores and returns an object, refuses a wrong secret, stops', async () => {
  s3 = await startSeaweedS3(path.join(dir, 'seaweedfs'));
  expect(s3.env).toEqual({
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: expect.any(String),
    AWS_SECRET_ACCESS_KEY: expect.any(String),
    AWS_REGION: 'us-east-1',
  });
  const body = Buffer.from('a checkpoint shard, or near enough');
  const client = s3.client();
  await client.send(
    new PutObjectCommand({ Bucket: s3.bucket, Key: 'runs/a.bin', Body: body, ContentMD5: createHash('md5').update(body).digest('base64') }),
  );
  const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'runs/a.bin' }));
  expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);

  // A body that does not match its ContentMD5 is refused, not stored.
  await expect(
    client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'runs/b.bin', Body: 'other bytes', ContentMD5: createHash('md5').update(body).digest('base64') })),
  ).rejects.toMatchObject({ name: 'BadDigest' });

  const wrong = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: 'not-the-secret' },
  });
  await expect(wrong.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'runs/a.bin' }))).rejects.toMatchObject({
    $metadata: { httpStatusCode: 403 },
  });
  wrong.destroy();
  client.destroy();

  const { pid, endpoint } = s3;
  await s3.stop();
  s3 = undefined;
  expect(() => process.kill(pid, 0)).toThrow();
  await expect(fetch(`${endpoint}/healthz`)).rejects.toThrow();
}, 90_000);
