/**
 * `tuneflow codec-server`: Temporal's remote codec endpoint for lib/payload-codec.ts, so the
 * Temporal UI (and `temporal workflow show --codec-endpoint`) shows decrypted payloads to
 * whoever can reach it: POST /decode and POST /encode take and answer `{"payloads": [...]}`,
 * each payload as proto JSON (metadata values and data in base64).
 *
 * Whoever reaches it reads every payload, so it listens on loopback unless told otherwise, and
 * answers browsers only from the UI's origins (CORS): another web page open in the same browser
 * gets a 403, not the plaintext.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { InvalidEnvironmentError, InvalidOptionsError } from '../lib/failures';
import { codecFromEnvironment, type EncryptionCodec } from '../lib/payload-codec';
import { temporalSettings } from '../lib/temporal-settings';

/** More than a UI page asks for at once (each payload is at most Temporal's 2 MB). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

const Base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64');
const JsonPayload = z.object({
  metadata: z.record(z.string(), Base64).nullish(),
  data: Base64.nullish(),
});
type JsonPayload = z.infer<typeof JsonPayload>;
const CodecRequest = z.object({ payloads: z.array(JsonPayload) });

export const CodecServerOptions = z.object({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  /** Browser origins allowed to call it: the Temporal UI's. */
  uiOrigin: z.array(z.url({ protocol: /^https?$/, error: 'expected an http(s) origin, like http://127.0.0.1:8233' })).min(1),
});
export type CodecServerOptions = z.infer<typeof CodecServerOptions>;

/** The UI's origin from TEMPORAL_UI_URL, and its twin under the other loopback name (browsers tell them apart). */
export function defaultUiOrigins(uiUrl = temporalSettings.uiUrl): string[] {
  const url = new URL(uiUrl);
  const twins: Record<string, string> = { '127.0.0.1': 'localhost', localhost: '127.0.0.1' };
  const origins = [url.origin];
  if (twins[url.hostname]) origins.push(`${url.protocol}//${twins[url.hostname]}${url.port ? `:${url.port}` : ''}`);
  return origins;
}

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: payload.metadata
      ? Object.fromEntries(Object.entries(payload.metadata).map(([key, value]) => [key, Buffer.from(value, 'base64')]))
      : undefined,
    data: payload.data ? Buffer.from(payload.data, 'base64') : undefined,
  };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: payload.metadata
      ? Object.fromEntries(Object.entries(payload.metadata).map(([key, value]) => [key, Buffer.from(value).toString('base64')]))
      : undefined,
    data: payload.data ? Buffer.from(payload.data).toString('base64') : undefined,
  };
}

function readBody(request: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        request.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function handle(codec: EncryptionCodec, allowed: ReadonlySet<string>, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (!allowed.has(origin)) {
      answer(response, 403, {
        error: `origin ${origin} may not call this codec server: start it with --ui-origin ${origin} if that is your Temporal UI`,
      });
      return;
    }
    response.setHeader('access-control-allow-origin', origin);
    response.setHeader('access-control-allow-credentials', 'true');
    response.setHeader('vary', 'Origin');
  }
  const route = new URL(request.url ?? '/', 'http://codec').pathname;
  if (route !== '/decode' && route !== '/encode') {
    answer(response, 404, { error: `no ${route} here: POST /decode or /encode` });
    return;
  }
  if (request.method === 'OPTIONS') {
    response.writeHead(204, {
      'access-control-allow-methods': 'POST, OPTIONS',
      // The UI sends its namespace, and its access token when told to pass it.
      'access-control-allow-headers': 'content-type, x-namespace, authorization',
      'access-control-max-age': '600',
    });
    response.end();
    return;
  }
  if (request.method !== 'POST') {
    answer(response, 405, { error: `${request.method} ${route}: POST {"payloads": [...]}` });
    return;
  }
  const body = await readBody(request);
  if (body === null) {
    answer(response, 413, { error: `the request is over ${MAX_BODY_BYTES} bytes: send fewer payloads at once` });
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    answer(response, 400, { error: 'the body is not JSON: send {"payloads": [{"metadata": {...}, "data": "<base64>"}]}' });
    return;
  }
  const parsed = CodecRequest.safeParse(json);
  if (!parsed.success) {
    answer(response, 400, { error: `the body is not {"payloads": [...]}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    return;
  }
  const payloads = parsed.data.payloads.map(fromJson);
  try {
    const result = route === '/decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    answer(response, 200, { payloads: result.map(toJson) });
  } catch (err) {
    // A payload of an unknown key or another key: the message names the key id, never a key.
    answer(response, 422, { error: (err as Error).message });
  }
}

export interface CodecServer {
  /** Base URL: the UI's codec endpoint. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startCodecServer(codec: EncryptionCodec, options: CodecServerOptions): Promise<CodecServer> {
  const allowed = new Set(options.uiOrigin.map((origin) => new URL(origin).origin));
  const server = createServer((request, response) => {
    handle(codec, allowed, request, response).catch((err: unknown) => {
      if (!response.headersSent) answer(response, 500, { error: (err as Error).message });
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function codecServerCommand(raw: { host: string; port: number; uiOrigin?: string[] }): Promise<void> {
  const parsed = CodecServerOptions.safeParse({ ...raw, uiOrigin: raw.uiOrigin ?? defaultUiOrigins() });
  if (!parsed.success) {
    throw new InvalidOptionsError(
      `invalid options for tuneflow codec-server:\n${parsed.error.issues.map((i) => `  --${String(i.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`).join('\n')}\nSee tuneflow codec-server --help.`,
    );
  }
  const codec = codecFromEnvironment();
  if (!codec) {
    throw new InvalidEnvironmentError(
      'TUNEFLOW_CODEC_KEYS is not set: the codec server decrypts with the keys the workers encrypt with. ' +
        'Set TUNEFLOW_CODEC_KEYS and TUNEFLOW_CODEC_KEY_ID as for the workers (see "Payload encryption" in docs/operations.md).',
    );
  }
  const server = await startCodecServer(codec, parsed.data);
  console.log(`codec server on ${server.url} (key ids ${codec.keyIds.join(', ')}; encrypting with ${codec.keyId})`);
  console.log(`  answers the Temporal UI at ${parsed.data.uiOrigin.join(', ')}`);
  console.log(`  point the UI at it: temporal server start-dev --ui-codec-endpoint ${server.url}  (or the UI's "Codec Server" setting)`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await server.close();
}
