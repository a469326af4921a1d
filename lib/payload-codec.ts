/**
 * Optional end-to-end encryption of every Temporal payload tuneflow writes: workflow and activity
 * inputs and results, heartbeats, memos, the UI's summaries, and (with lib/encoded-failure-converter.ts)
 * failure messages. AES-256-GCM, laid out as Temporal's TypeScript encryption sample lays it out,
 * so codec servers of either read the other's payloads: metadata `encoding: binary/encrypted` and
 * `encryption-key-id: <id>`; data = 12-byte IV, the ciphertext of the whole original Payload
 * (length-delimited protobuf), 16-byte tag.
 *
 * Keys come from the environment of the workers, the CLI and the codec server alike:
 *
 *   TUNEFLOW_CODEC_KEYS="2025-01:<base64 of 32 bytes>,2025-07:<base64 of 32 bytes>"   every key still read
 *   TUNEFLOW_CODEC_KEY_ID=2025-07                                                     the key new payloads get
 *
 * Rotation: add the new key, point TUNEFLOW_CODEC_KEY_ID at it, and keep the old one for as long
 * as histories it encrypted are read (a payload names its key). Neither variable set: no codec.
 * Search attributes, workflow ids and activity types are never encrypted (the server indexes them).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { InvalidEnvironmentError } from './failures';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA_KEY = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HOW_TO_MAKE_A_KEY = 'make one with `openssl rand -base64 32`';

const KeyId = z.string().regex(/^[\w.-]+$/, 'a key id is letters, digits, "_", "-" and "." only');

/** One `<key id>:<base64 key>` entry. Messages never quote the entry: it holds the key. */
const KeyEntry = z.string().transform((entry, ctx) => {
  const colon = entry.indexOf(':');
  const id = entry.slice(0, Math.max(colon, 0)).trim();
  const encoded = entry.slice(colon + 1).trim();
  if (colon <= 0 || !KeyId.safeParse(id).success || encoded === '') {
    ctx.addIssue({ code: 'custom', message: `an entry is not "<key id>:<base64 key>" with a key id of letters, digits, "_", "-" and "."` });
    return z.NEVER;
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
    ctx.addIssue({ code: 'custom', message: `key ${id} is not base64: ${HOW_TO_MAKE_A_KEY}` });
    return z.NEVER;
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== KEY_BYTES) {
    ctx.addIssue({ code: 'custom', message: `key ${id} is ${key.length} bytes; AES-256-GCM needs ${KEY_BYTES}: ${HOW_TO_MAKE_A_KEY}` });
    return z.NEVER;
  }
  return { id, key };
});

/** The codec's environment variables; null when neither is set (payloads stay plain). */
export const CodecEnvironment = z
  .object({
    TUNEFLOW_CODEC_KEYS: z.string().optional(),
    TUNEFLOW_CODEC_KEY_ID: z.string().optional(),
  })
  .transform((env, ctx) => {
    const entries = (env.TUNEFLOW_CODEC_KEYS ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
    const keyId = env.TUNEFLOW_CODEC_KEY_ID?.trim() ?? '';
    if (entries.length === 0 && keyId === '') return null;
    if (entries.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['TUNEFLOW_CODEC_KEYS'],
        message: `not set, but TUNEFLOW_CODEC_KEY_ID is (${keyId}): set TUNEFLOW_CODEC_KEYS="${keyId}:<base64 key>", or unset TUNEFLOW_CODEC_KEY_ID to run without encryption`,
      });
      return z.NEVER;
    }
    const keys = new Map<string, Buffer>();
    entries.forEach((entry, index) => {
      const parsed = KeyEntry.safeParse(entry);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: ['TUNEFLOW_CODEC_KEYS'], message: `entry ${index + 1}: ${issue.message}` });
      } else if (keys.has(parsed.data.id)) {
        ctx.addIssue({ code: 'custom', path: ['TUNEFLOW_CODEC_KEYS'], message: `key id ${parsed.data.id} is given twice: each id names one key` });
      } else {
        keys.set(parsed.data.id, parsed.data.key);
      }
    });
    const ids = [...keys.keys()].join(', ');
    if (keyId === '') {
      ctx.addIssue({ code: 'custom', path: ['TUNEFLOW_CODEC_KEY_ID'], message: `not set: name the key new payloads are encrypted with (one of: ${ids})` });
    } else if (keys.size === entries.length && !keys.has(keyId)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TUNEFLOW_CODEC_KEY_ID'],
        message: `${keyId} is not a key id of TUNEFLOW_CODEC_KEYS (${ids}): add "${keyId}:<base64 key>" there or name one of those`,
      });
    }
    return { keys: keys as ReadonlyMap<string, Buffer>, keyId };
  });
export type CodecSettings = NonNullable<z.infer<typeof CodecEnvironment>>;

/** The codec's settings from `env`, or null when it is off; throws InvalidEnvironmentError naming each problem. */
export function codecSettingsFromEnvironment(env: NodeJS.ProcessEnv = process.env): CodecSettings | null {
  const parsed = CodecEnvironment.safeParse({ TUNEFLOW_CODEC_KEYS: env.TUNEFLOW_CODEC_KEYS, TUNEFLOW_CODEC_KEY_ID: env.TUNEFLOW_CODEC_KEY_ID });
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new InvalidEnvironmentError(
    `the payload codec's environment is invalid:\n${lines.join('\n')}\nSee "Payload encryption" in docs/operations.md.`,
  );
}

/** AES-256-GCM over whole payloads; decrypts with the key its payload names, so old keys still read. */
export class EncryptionCodec implements PayloadCodec {
  // Private: an inspected or logged codec shows no key.
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly keyId: string;

  constructor(settings: CodecSettings) {
    this.#keys = settings.keys;
    this.keyId = settings.keyId;
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.#keys.get(this.keyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
      const plain = temporal.api.common.v1.Payload.encodeDelimited(payload).finish();
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA_KEY]: Buffer.from(this.keyId),
        },
        data: Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || Buffer.from(encoding).toString() !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA_KEY];
      if (!idBytes) throw new ValueError(`an encrypted payload has no ${KEY_ID_METADATA_KEY}: it was not written by this codec`);
      const id = Buffer.from(idBytes).toString();
      const key = this.#keys.get(id);
      if (!key) {
        throw new ValueError(
          `a payload is encrypted with key id ${id}, which TUNEFLOW_CODEC_KEYS does not hold (${this.keyIds.join(', ')}): add "${id}:<base64 key>" to read it`,
        );
      }
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError(`an encrypted payload (key id ${id}) is ${data.length} bytes: too short to hold an IV and a tag`);
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new ValueError(
          `a payload encrypted with key id ${id} does not authenticate: the key under that id is not the one it was written with, or the payload was altered`,
        );
      }
      return temporal.api.common.v1.Payload.decodeDelimited(plain);
    });
  }
}

/** The codec from the environment, or null when it is off. */
export function codecFromEnvironment(env: NodeJS.ProcessEnv = process.env): EncryptionCodec | null {
  const settings = codecSettingsFromEnvironment(env);
  return settings ? new EncryptionCodec(settings) : null;
}

/**
 * The data converter of every client and worker: plain without the codec; with it, payloads
 * encrypted and failures' messages moved into an encrypted payload.
 */
export function tuneflowDataConverter(codec: EncryptionCodec | null = codecFromEnvironment()): DataConverter {
  if (!codec) return {};
  return { payloadCodecs: [codec], failureConverterPath: require.resolve('./encoded-failure-converter') };
}
