/**
 * A small typed client for the MLflow REST API (2.0 endpoints of MLflow 3).
 *
 * Every response is validated with zod. Connection errors and 5xx answers are retried with
 * exponential backoff, except for a model version's create, which MLflow may have committed
 * before its reply was lost; 4xx answers become `MlflowApiError` naming the call and MLflow's
 * error code.
 */
import { z } from 'zod';
import { InvalidConfigError, MlflowApiError, MlflowUnavailableError } from './failures';

const Tag = z.object({ key: z.string(), value: z.string().optional().default('') });

const RunInfo = z.object({
  run_id: z.string(),
  experiment_id: z.string(),
  status: z.string().optional(),
  artifact_uri: z.string().optional(),
  start_time: z.coerce.number().optional(),
  end_time: z.coerce.number().optional(),
});

const Metric = z.object({
  key: z.string(),
  value: z.number(),
  step: z.coerce.number().optional().default(0),
  timestamp: z.coerce.number().optional(),
});

const Run = z.object({
  info: RunInfo,
  data: z
    .object({
      metrics: z.array(Metric).optional().default([]),
      params: z.array(Tag).optional().default([]),
      tags: z.array(Tag).optional().default([]),
    })
    .optional()
    .default({ metrics: [], params: [], tags: [] }),
  inputs: z
    .object({
      dataset_inputs: z
        .array(
          z.object({
            tags: z.array(Tag).optional().default([]),
            dataset: z.object({ name: z.string(), digest: z.string(), source_type: z.string(), source: z.string() }),
          }),
        )
        .optional()
        .default([]),
    })
    .optional()
    .default({ dataset_inputs: [] }),
});
export type MlflowRun = z.infer<typeof Run>;

const Experiment = z.object({ experiment_id: z.string(), name: z.string() });

/** One entry of a run's artifact folder (`artifacts/list`); sizes are int64, sent as strings. */
const ArtifactFile = z.object({
  path: z.string(),
  is_dir: z.boolean().optional().default(false),
  file_size: z.coerce.number().optional(),
});
export type ArtifactFile = z.infer<typeof ArtifactFile>;

const ModelVersion = z.object({
  name: z.string(),
  version: z.string(),
  source: z.string().optional(),
  run_id: z.string().optional(),
  status: z.string().optional(),
  tags: z.array(Tag).optional().default([]),
  aliases: z.array(z.string()).optional().default([]),
});
export type ModelVersion = z.infer<typeof ModelVersion>;

const RegisteredModel = z.object({
  name: z.string(),
  aliases: z.array(z.object({ alias: z.string(), version: z.string() })).optional().default([]),
});

const LoggedModel = z.object({
  info: z.object({ model_id: z.string(), artifact_uri: z.string(), source_run_id: z.string().optional() }),
});

/** A dataset input of a run: `source` and `profile` are JSON strings, as the MLflow UI reads them. */
export interface MlflowDatasetInput {
  name: string;
  digest: string;
  source_type: string;
  source: string;
  profile?: string;
  /** `mlflow.data.context` of the input: training, validation, ... */
  context: string;
}

export interface MlflowClientOptions {
  /** Attempts for connection errors and 5xx answers (the first included). */
  attempts?: number;
  initialBackoffMs?: number;
}

type Query = Record<string, string | number | undefined>;

export class MlflowClient {
  private readonly baseUrl: string;
  private readonly attempts: number;
  private readonly initialBackoffMs: number;

  constructor(trackingUri: string, options: MlflowClientOptions = {}) {
    this.baseUrl = trackingUri.replace(/\/+$/, '');
    this.attempts = options.attempts ?? 6;
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
  }

  /** Link to a run in the MLflow UI. */
  runUrl(experimentId: string, runId: string): string {
    return `${this.baseUrl}/#/experiments/${experimentId}/runs/${runId}`;
  }

  /** Link to one artifact of a run in the MLflow UI (the run page's artifact view, opened at it). */
  runArtifactUrl(experimentId: string, runId: string, artifactPath: string): string {
    return `${this.runUrl(experimentId, runId)}/artifactPath/${artifactPath.split('/').map(encodeURIComponent).join('/')}`;
  }

  modelVersionUrl(name: string, version: string): string {
    return `${this.baseUrl}/#/models/${encodeURIComponent(name)}/versions/${version}`;
  }

  async getExperimentByName(name: string): Promise<z.infer<typeof Experiment> | null> {
    const body = await this.call('GET', 'experiments/get-by-name', { experiment_name: name }, undefined, {
      notFoundIsNull: true,
    });
    return body === null ? null : z.object({ experiment: Experiment }).parse(body).experiment;
  }

  /** The experiment's id, created on first use. */
  async ensureExperiment(name: string): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return existing.experiment_id;
    try {
      const body = await this.call('POST', 'experiments/create', undefined, { name });
      return z.object({ experiment_id: z.string() }).parse(body).experiment_id;
    } catch (err) {
      // Another worker created it between our get and create.
      if (err instanceof MlflowApiError && err.errorCode === 'RESOURCE_ALREADY_EXISTS') {
        const created = await this.getExperimentByName(name);
        if (created) return created.experiment_id;
      }
      throw err;
    }
  }

  async createRun(experimentId: string, runName: string, tags: Record<string, string>): Promise<MlflowRun> {
    const body = await this.call('POST', 'runs/create', undefined, {
      experiment_id: experimentId,
      run_name: runName,
      start_time: Date.now(),
      tags: toTags(tags),
    });
    return z.object({ run: Run }).parse(body).run;
  }

  async getRun(runId: string): Promise<MlflowRun> {
    const body = await this.call('GET', 'runs/get', { run_id: runId });
    return z.object({ run: Run }).parse(body).run;
  }

  /** Every value logged for one metric of a run (a curve), in step order. */
  async getMetricHistory(runId: string, metricKey: string): Promise<z.infer<typeof Metric>[]> {
    const body = await this.call('GET', 'metrics/get-history', { run_id: runId, metric_key: metricKey });
    return z.object({ metrics: z.array(Metric).optional().default([]) }).parse(body).metrics.sort((a, b) => a.step - b.step);
  }

  async searchRuns(experimentIds: string[], filter: string, maxResults = 100): Promise<MlflowRun[]> {
    const body = await this.call('POST', 'runs/search', undefined, {
      experiment_ids: experimentIds,
      filter,
      max_results: maxResults,
    });
    return z.object({ runs: z.array(Run).optional().default([]) }).parse(body).runs;
  }

  async setRunTag(runId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'runs/set-tag', undefined, { run_id: runId, key, value });
  }

  /** Logs metrics to a run at one step, in one call (non-finite values are left out: MLflow's JSON has no NaN). */
  async logMetrics(runId: string, metrics: Record<string, number>, step = 0): Promise<void> {
    const timestamp = Date.now();
    const finite = Object.entries(metrics).filter(([, value]) => Number.isFinite(value));
    await this.call('POST', 'runs/log-batch', undefined, {
      run_id: runId,
      metrics: finite.map(([key, value]) => ({ key, value, timestamp, step })),
    });
  }

  /** Records datasets as the run's inputs (MLflow dedups a dataset by name and digest). */
  async logInputs(runId: string, datasets: MlflowDatasetInput[]): Promise<void> {
    await this.call('POST', 'runs/log-inputs', undefined, {
      run_id: runId,
      datasets: datasets.map(({ context, ...dataset }) => ({
        tags: [{ key: 'mlflow.data.context', value: context }],
        dataset,
      })),
    });
  }

  /** The artifacts directly under `artifactPath` of a run (the root when omitted). */
  async listArtifacts(runId: string, artifactPath?: string): Promise<ArtifactFile[]> {
    const body = await this.call('GET', 'artifacts/list', { run_id: runId, path: artifactPath });
    return z.object({ files: z.array(ArtifactFile).optional().default([]) }).parse(body).files;
  }

  async updateRunStatus(runId: string, status: 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED'): Promise<void> {
    await this.call('POST', 'runs/update', undefined, { run_id: runId, status, end_time: Date.now() });
  }

  async getRegisteredModel(name: string): Promise<z.infer<typeof RegisteredModel> | null> {
    const body = await this.call('GET', 'registered-models/get', { name }, undefined, { notFoundIsNull: true });
    return body === null ? null : z.object({ registered_model: RegisteredModel }).parse(body).registered_model;
  }

  /** Creates the registered model unless it exists. */
  async ensureRegisteredModel(name: string, description: string): Promise<void> {
    if (await this.getRegisteredModel(name)) return;
    try {
      await this.call('POST', 'registered-models/create', undefined, { name, description });
    } catch (err) {
      if (!(err instanceof MlflowApiError && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
    }
  }

  /** Sent once: a retry could make a second version. The caller looks the version up after a failure. */
  async createModelVersion(args: {
    name: string;
    source: string;
    runId: string;
    modelId?: string;
    tags: Record<string, string>;
  }): Promise<ModelVersion> {
    const body = await this.call('POST', 'model-versions/create', undefined, {
      name: args.name,
      source: args.source,
      run_id: args.runId,
      model_id: args.modelId,
      tags: toTags(args.tags),
    }, { once: true });
    return z.object({ model_version: ModelVersion }).parse(body).model_version;
  }

  async searchModelVersions(filter: string): Promise<ModelVersion[]> {
    const body = await this.call('GET', 'model-versions/search', { filter, max_results: 1000 });
    return z.object({ model_versions: z.array(ModelVersion).optional().default([]) }).parse(body).model_versions;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const body = await this.call('GET', 'model-versions/get', { name, version });
    return z.object({ model_version: ModelVersion }).parse(body).model_version;
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'model-versions/set-tag', undefined, { name, version, key, value });
  }

  /** The version holding `alias`, or null when no version holds it. */
  async aliasVersion(name: string, alias: string): Promise<string | null> {
    const model = await this.getRegisteredModel(name);
    return model?.aliases.find((a) => a.alias === alias)?.version ?? null;
  }

  async setRegisteredModelAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', 'registered-models/alias', undefined, { name, alias, version });
  }

  /** An MLflow 3 logged model (`models:/<model_id>`), with its artifact location. */
  async getLoggedModel(modelId: string): Promise<z.infer<typeof LoggedModel>> {
    const body = await this.call('GET', `logged-models/${encodeURIComponent(modelId)}`);
    return z.object({ model: LoggedModel }).parse(body).model;
  }

  private async call(
    method: 'GET' | 'POST',
    endpoint: string,
    query?: Query,
    body?: unknown,
    options: { notFoundIsNull?: boolean; once?: boolean } = {},
  ): Promise<unknown> {
    const url = new URL(`${this.baseUrl}/api/2.0/mlflow/${endpoint}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const call = `${method} ${endpoint}`;
    let lastError: Error | undefined;
    const attempts = options.once ? 1 : this.attempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(this.initialBackoffMs * 2 ** (attempt - 2));
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: body === undefined ? undefined : { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a timeout) is its cause.
        // (Not `instanceof Error`: fetch's errors may come from another realm, as under jest.)
        const cause = (err as Error).cause as Error | undefined;
        lastError = typeof cause?.message === 'string' ? cause : (err as Error);
        continue;
      }
      const text = await response.text();
      if (response.status >= 500) {
        lastError = new MlflowApiError(call, response.status, 'SERVER_ERROR', text.slice(0, 500));
        continue;
      }
      const parsed = parseJson(text);
      if (!response.ok) {
        const error = z.object({ error_code: z.string(), message: z.string().optional() }).safeParse(parsed);
        const code = error.success ? error.data.error_code : 'UNKNOWN';
        if (options.notFoundIsNull && code === 'RESOURCE_DOES_NOT_EXIST') return null;
        throw new MlflowApiError(call, response.status, code, error.success ? (error.data.message ?? '') : text.slice(0, 500));
      }
      return parsed;
    }
    throw new MlflowUnavailableError(this.baseUrl, call, lastError?.message ?? 'no answer', attempts);
  }
}

/**
 * `value` as a string literal of MLflow's search filter grammar (runs, model versions). MLflow
 * strips the enclosing quotes and unescapes nothing (mlflow/utils/search_utils.py _strip_quotes),
 * so `'it''s'` or `'it\'s'` would not match it's: a value with `'` goes in double quotes instead.
 * The grammar cannot hold a value with both quotes, or one ending in a backslash (sqlparse reads
 * `\'` as an escaped quote), so those fail rather than match the wrong thing.
 */
export function filterString(value: string): string {
  const quote = value.includes("'") ? '"' : "'";
  if (value.includes(quote) || value.endsWith('\\')) {
    throw new InvalidConfigError(
      '(MLflow search filter)',
      `${JSON.stringify(value)} holds both ' and ", or ends in a backslash, which MLflow's search filter grammar cannot quote. ` +
        'Use a pipeline id and names without them.',
    );
  }
  return `${quote}${value}${quote}`;
}

function toTags(tags: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    return { error_code: 'INVALID_JSON', message: text.slice(0, 500) };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
