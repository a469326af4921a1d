/**
 * The step cache (`cache: true`): before a step runs, its key is the sha256 of the step, the code
 * version, the part of the config it depends on, and its inputs with every artifact they name
 * replaced by that artifact's content fingerprint (sha256 of local files; the store's ETags for an
 * s3:// root), so the same data written by another pipeline matches. A finished step's result is
 * recorded under `<storage.root>/.step-cache/<step>/<key>.json`; a later step with the same key,
 * from any pipeline on that root, reuses it as long as every artifact it names is still there.
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { configHash, REPO_ROOT, writeFileAtomic } from '../lib/artifacts';
import type { PipelineConfig } from '../lib/config';
import { jsonOrNull } from '../lib/json';
import { localRoot, storageRoot, stringsIn } from '../lib/storage/location';
import { ObjectStore } from '../lib/storage/object-store';
import {
  StepCacheEntry,
  StepCacheHit,
  StepCacheLookup,
  type CacheableStep,
  type StepCacheAnswer,
} from '../lib/steps';

/** What of the config each step's outcome depends on (its inputs' content covers the rest). */
const CONFIG_OF: Record<CacheableStep, (config: PipelineConfig) => unknown> = {
  clean: (c) => c.data,
  split: (c) => c.split,
  train: (c) => ({ model: c.model, train: c.train, mlflow: c.mlflow }),
  // evaluate scores against the champion of register.modelName.
  evaluate: (c) => ({ model: c.model, evaluate: c.evaluate, generation: c.generation, champion: c.register.modelName, mlflow: c.mlflow }),
  register: (c) => ({ register: c.register, mlflow: c.mlflow }),
  summarize: (c) => ({ summarize: c.summarize, generation: c.generation, mlflow: c.mlflow }),
  report: (c) => ({ report: c.report, mlflow: c.mlflow }),
};

const CACHE_FOLDER = '.step-cache';

export async function lookupStepCache(rawInput: StepCacheLookup): Promise<StepCacheAnswer> {
  const input = StepCacheLookup.parse(rawInput);
  const artifacts = new Artifacts(input.config);
  const key = configHash({
    step: input.step,
    code: await codeVersion(),
    config: CONFIG_OF[input.step](input.config),
    inputs: await artifacts.fingerprinted(input.inputs),
  });
  const record = StepCacheHit.safeParse(await artifacts.readRecord(`${input.step}/${key}.json`));
  if (!record.success) return { key, hit: null };
  // A pipeline folder deleted since: its result would name what is gone.
  for (const artifact of artifacts.named(record.data.result)) if (!(await artifacts.exists(artifact))) return { key, hit: null };
  return { key, hit: record.data };
}

export async function recordStepCache(rawInput: StepCacheEntry): Promise<void> {
  const input = StepCacheEntry.parse(rawInput);
  const record: StepCacheHit = { pipelineId: input.pipelineId, recordedAt: new Date().toISOString(), result: input.result };
  await new Artifacts(input.config).writeRecord(`${input.step}/${input.key}.json`, record);
}

let code: Promise<string> | null = null;

/** sha256 of tuneflow's own code (TypeScript and Python): another version never reuses a step. */
function codeVersion(): Promise<string> {
  code ??= (async () => {
    const hash = createHash('sha256');
    for (const dir of ['activities', 'lib', 'workflows', 'python/tuneflow_ml']) {
      const entries = await readdir(path.join(REPO_ROOT, dir), { recursive: true, withFileTypes: true });
      const files = entries
        .filter((entry) => entry.isFile() && /\.(ts|py|json)$/.test(entry.name))
        .map((entry) => path.join(entry.parentPath, entry.name))
        .sort();
      for (const file of files) hash.update(path.relative(REPO_ROOT, file)).update(await readFile(file));
    }
    return hash.digest('hex');
  })();
  return code;
}

/** The artifacts under this config's storage.root, by path (a folder root) or by URI (s3://). */
class Artifacts {
  private readonly store: ObjectStore | null;
  private readonly prefix: string;

  constructor(private readonly config: PipelineConfig) {
    const root = storageRoot(config);
    this.store = root.kind === 's3' ? new ObjectStore(root.bucket, root.prefix) : null;
    this.prefix = root.kind === 's3' ? `${root.uri}/` : `${localRoot(config)}${path.sep}`;
  }

  /** Every string naming an artifact, each once. */
  named(value: unknown): string[] {
    return stringsIn(value, (text) => text.startsWith(this.prefix));
  }

  /** `value` with each artifact as its place within its pipeline (`clean/cleaned.parquet`) and its content's fingerprint. */
  async fingerprinted(value: unknown): Promise<unknown> {
    if (typeof value === 'string') {
      if (!value.startsWith(this.prefix)) return value;
      const within = value.slice(this.prefix.length).split(/[\\/]/).slice(1).join('/');
      return { artifact: within, content: await this.content(value) };
    }
    if (Array.isArray(value)) return Promise.all(value.map((item) => this.fingerprinted(item)));
    if (value !== null && typeof value === 'object') {
      const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await this.fingerprinted(v)] as const));
      return Object.fromEntries(entries);
    }
    return value;
  }

  async exists(artifact: string): Promise<boolean> {
    if (this.store) {
      const relative = artifact.slice(this.prefix.length);
      return (await this.store.head(relative)) !== null || (await this.store.list(relative)).length > 0;
    }
    return stat(artifact).then(
      () => true,
      () => false,
    );
  }

  async readRecord(relative: string): Promise<unknown> {
    if (this.store) return this.store.getJson(`${CACHE_FOLDER}/${relative}`);
    return jsonOrNull(await readFile(path.join(localRoot(this.config), CACHE_FOLDER, relative), 'utf8').catch(() => 'null'));
  }

  async writeRecord(relative: string, record: unknown): Promise<void> {
    if (this.store) return this.store.putJson(`${CACHE_FOLDER}/${relative}`, record);
    const file = path.join(localRoot(this.config), CACHE_FOLDER, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(record));
  }

  /** The store's ETags (content MD5s) and sizes, or each local file's sha256, under the artifact, by relative path. */
  private async content(artifact: string): Promise<[string, string][]> {
    if (this.store) {
      const relative = artifact.slice(this.prefix.length);
      const single = await this.store.head(relative);
      const objects = single ? [single] : await this.store.list(relative);
      return objects.map((o): [string, string] => [o.key.slice(relative.length), `${o.size}:${o.etag}`]).sort(([a], [b]) => (a < b ? -1 : 1));
    }
    const info = await stat(artifact).catch(() => null);
    if (info === null) return [];
    if (!info.isDirectory()) return [['', await sha256Of(artifact)]];
    const entries = await readdir(artifact, { recursive: true, withFileTypes: true });
    const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
    return Promise.all(files.map(async (file): Promise<[string, string]> => [path.relative(artifact, file), await sha256Of(file)]));
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
