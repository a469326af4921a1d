/**
 * The object store behind an s3:// storage.root, in the calls tuneflow needs: verified file
 * uploads and downloads, JSON objects, listings and deletes. The client takes endpoint, region
 * and credentials from the worker's standard AWS environment (AWS_ENDPOINT_URL, AWS_REGION,
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws): nothing of them is in a
 * config or a workflow's history.
 *
 * A file counts as stored only when the store's ETag (the MD5 of its bytes, or of its fixed-size
 * parts' MD5s for a multipart upload: so the bytes and their number) equals what this side
 * computed; its sha256 travels as metadata and is checked on every download.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectStoreError } from '../failures';
import { tempPathFor } from '../artifacts';

const MIB = 2 ** 20;

/** What a stored file is: its size, sha256 (hex) and the ETag the store must report for it. */
export interface FileDigest {
  size: number;
  sha256: string;
  etag: string;
}

export interface StoredObject {
  key: string;
  size: number;
  etag: string;
}

let shared: { settings: string; client: S3Client } | null = null;

/**
 * One client per process (it pools connections), made again only if the AWS environment changed.
 * An endpoint of one's own (SeaweedFS, MinIO) is addressed by path.
 */
function client(): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
  const region = process.env.AWS_REGION || 'us-east-1';
  const settings = JSON.stringify([endpoint, region, process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY, process.env.AWS_PROFILE]);
  if (shared?.settings !== settings) {
    shared?.client.destroy();
    shared = {
      settings,
      client: new S3Client({
        endpoint,
        forcePathStyle: endpoint !== undefined,
        region,
        // An endpoint that does not answer fails in seconds, not at the OS's TCP timeout.
        requestHandler: { connectionTimeout: 10_000 },
        // The SDK's default CRC32 of every request and response body is pure JavaScript on this
        // process's event loop, next to the training it serves; the ETag (MD5) and sha256 checks
        // here already cover each byte, so checksums are sent only where an operation requires one.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    };
  }
  return shared.client;
}

/** 16 MiB parts, larger for files past 160 GiB (S3 allows 10,000 parts): fixed by size, so the ETag is known beforehand. */
function partSizeFor(size: number): number {
  return Math.max(16 * MIB, Math.ceil(size / 10_000 / MIB) * MIB);
}

/** sha256 and the ETag the store computes (single or multipart, as upload() will send it), in one read. */
export async function digestFile(file: string): Promise<FileDigest> {
  const { size } = await stat(file);
  const partSize = partSizeFor(size);
  const sha256 = createHash('sha256');
  const partMd5s: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: MIB }) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(chunk.length - offset, partSize - inPart);
      part.update(chunk.subarray(offset, offset + take));
      inPart += take;
      offset += take;
      if (inPart === partSize) {
        partMd5s.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0 || partMd5s.length === 0) partMd5s.push(part.digest());
  const etag =
    size <= partSize ? partMd5s[0].toString('hex') : `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
  return { size, sha256: sha256.digest('hex'), etag };
}

const unquote = (etag: string | undefined) => (etag ?? '').replaceAll('"', '');

export class ObjectStore {
  constructor(
    readonly bucket: string,
    /** Key prefix without slashes at either end; '' for the bucket's root. */
    readonly prefix: string,
  ) {}

  key(relative: string): string {
    return this.prefix ? `${this.prefix}/${relative}` : relative;
  }

  uri(relative: string): string {
    return `s3://${this.bucket}/${this.key(relative)}`;
  }

  /**
   * Uploads `file` as `relative` and checks the store's ETag of what it holds against `digest`.
   * `onProgress` gets the bytes sent so far (per part); `signal` aborts the upload.
   */
  async upload(relative: string, file: string, digest: FileDigest, options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {}) {
    const upload = new Upload({
      client: client(),
      params: { Bucket: this.bucket, Key: this.key(relative), Body: createReadStream(file), Metadata: { sha256: digest.sha256 } },
      partSize: partSizeFor(digest.size),
      queueSize: 4,
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (progress) => options.onProgress?.(progress.loaded ?? 0));
    const abort = () => void upload.abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const done = await this.call('upload', relative, () => upload.done()).finally(() => options.signal?.removeEventListener('abort', abort));
    // The ETag the write returns is the store's MD5 of the bytes (or of each fixed-size part) it
    // kept: equal to ours, the content and so the size are ours. Only a store that returns none is
    // asked again, which on a checkpoint of many small files would double the requests.
    const returned = unquote('ETag' in done ? done.ETag : undefined);
    const head = returned ? null : await this.call('check', relative, () => client().send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(relative) })));
    const etag = returned || unquote(head?.ETag);
    const wrongSize = head !== null && head.ContentLength !== digest.size;
    if (etag !== digest.etag || wrongSize) {
      throw new ObjectStoreError(
        `${this.uri(relative)} does not hold what was sent from ${file}: ETag ${etag}${wrongSize ? `, ${head.ContentLength} bytes` : ''}, expected ` +
          `${digest.size} bytes with ETag ${digest.etag}. The upload is retried; if it persists, check the store's health.`,
      );
    }
  }

  /** Downloads `relative` to `file` (via a temp file), checking its size and sha256 against the object's (or `expected`). */
  async download(relative: string, file: string, expected?: { size: number; sha256: string }): Promise<FileDigest> {
    const object = await this.call('download', relative, () => client().send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relative) })));
    const want = expected ?? { size: object.ContentLength ?? -1, sha256: object.Metadata?.sha256 ?? '' };
    await mkdir(path.dirname(file), { recursive: true });
    const temp = tempPathFor(file);
    const sha256 = createHash('sha256');
    let size = 0;
    try {
      const body = object.Body as Readable;
      body.on('data', (chunk: Buffer) => {
        sha256.update(chunk);
        size += chunk.length;
      });
      await pipeline(body, createWriteStream(temp));
      const got = sha256.digest('hex');
      if (size !== want.size || (want.sha256 !== '' && got !== want.sha256)) {
        throw new ObjectStoreError(
          `${this.uri(relative)} came down as ${size} bytes with sha256 ${got}, expected ${want.size} bytes with sha256 ${want.sha256 || '(none recorded)'}: ` +
            'the object changed or was damaged in the store. It is fetched again on a retry; if it persists, delete it so the step that wrote it runs again.',
        );
      }
      await rename(temp, file);
      return { size, sha256: got, etag: unquote(object.ETag) };
    } finally {
      await rm(temp, { force: true });
    }
  }

  async putJson(relative: string, value: unknown): Promise<void> {
    const body = JSON.stringify(value, null, 2);
    await this.call('write', relative, () =>
      client().send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(relative),
          Body: body,
          ContentType: 'application/json',
          ContentMD5: createHash('md5').update(body).digest('base64'),
        }),
      ),
    );
  }

  /** The parsed JSON object, or null when there is no such object. */
  async getJson(relative: string): Promise<unknown> {
    try {
      const object = await client().send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }));
      return JSON.parse(await object.Body!.transformToString());
    } catch (error) {
      if (error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)) return null;
      throw this.failure('read', relative, error);
    }
  }

  /**
   * The bucket exists and takes these credentials. Checked first: a write to a missing bucket is
   * not refused everywhere (SeaweedFS creates it for an admin), which would hide a mistyped name.
   */
  async checkBucket(): Promise<void> {
    try {
      await client().send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const missing = error instanceof S3ServiceException && (error.name === 'NotFound' || error.$metadata.httpStatusCode === 404);
      const reason = missing ? Object.assign(new Error('no such bucket'), { name: 'NoSuchBucket' }) : error;
      throw new ObjectStoreError(`the bucket s3://${this.bucket} cannot be used: ${describeS3Error(reason)}`);
    }
  }

  /** The object at `relative`, or null when there is none. */
  async head(relative: string): Promise<StoredObject | null> {
    try {
      const head = await client().send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }));
      return { key: relative, size: head.ContentLength ?? 0, etag: unquote(head.ETag) };
    } catch (error) {
      if (error instanceof S3ServiceException && (error.name === 'NotFound' || error.$metadata.httpStatusCode === 404)) return null;
      throw this.failure('check', relative, error);
    }
  }

  /** Every object under `relative/` (keys relative to the store's prefix). */
  async list(relative: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    const from = this.key(relative.endsWith('/') ? relative : `${relative}/`);
    do {
      const page = await this.call('list', relative, () =>
        client().send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: from, ContinuationToken: token })),
      );
      for (const item of page.Contents ?? []) {
        objects.push({ key: item.Key!.slice(this.prefix ? this.prefix.length + 1 : 0), size: item.Size ?? 0, etag: unquote(item.ETag) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** Deletes these objects (keys relative to the prefix), a thousand per request. */
  async delete(relatives: string[]): Promise<void> {
    for (let i = 0; i < relatives.length; i += 1000) {
      const batch = relatives.slice(i, i + 1000);
      await this.call('delete', batch[0], () =>
        client().send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((r) => ({ Key: this.key(r) })) } })),
      );
    }
  }

  private async call<T>(operation: string, relative: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.failure(operation, relative, error);
    }
  }

  private failure(operation: string, relative: string, error: unknown): Error {
    if (error instanceof ObjectStoreError || (error as Error).name === 'AbortError') return error as Error;
    return new ObjectStoreError(`${operation} ${this.uri(relative)} failed: ${describeS3Error(error)}`);
  }
}

/** The store's reason in words, with what to do for the usual three: no bucket, refused credentials, no answer. */
export function describeS3Error(error: unknown): string {
  const err = error as S3ServiceException & { code?: string };
  const status = err.$metadata?.httpStatusCode;
  const name = err.name === 'Unknown' || err.name === 'UnknownError' ? `HTTP ${status}` : err.name;
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || 'AWS S3';
  if (err.name === 'NoSuchBucket') return `${name}: the bucket does not exist at ${endpoint}; create it, or fix storage.root`;
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken'].includes(err.name) || status === 403) {
    return `${name} (${err.message}): the store refused this worker's credentials; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket's policy`;
  }
  if (err.name === 'CredentialsProviderError') return `${err.message}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) on the worker`;
  // The SDK wraps a socket's error ("AWS SDK error wrapper for Error: connect ECONNREFUSED ..."): its code is in the words.
  const code = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH)\b/.exec(`${err.code ?? ''} ${err.message}`)?.[1];
  if (code) {
    return `${code}: nothing answered at ${endpoint}; check AWS_ENDPOINT_URL and that the store is up`;
  }
  return `${name}${status ? ` (HTTP ${status})` : ''}: ${err.message}`;
}
