/**
 * `tuneflow serve`: the registered model behind an alias (`champion` by default) as a REST
 * endpoint, with `mlflow models serve` in the tuneflow venv (env manager `local`: the venv already
 * holds torch and transformers). POST /invocations {"inputs": ["review", ...]} answers
 * {"predictions": ["headline", ...]}.
 */
import * as path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { REPO_ROOT } from '../lib/artifacts';
import { loadConfigFile } from '../lib/config-file';
import { PipelineConfig } from '../lib/config';
import { MlflowClient } from '../lib/mlflow';

export interface ServeOptions {
  config?: string;
  alias: string;
  host: string;
  port: number;
}

export interface ModelServer {
  /** Base URL: POST `${url}/invocations`, GET `${url}/ping`. */
  url: string;
  process: ResultPromise;
  /** Stops mlflow and the uvicorn it started (its own process group, so none is left behind). */
  stop(): void;
}

const VENV_BIN = path.join(REPO_ROOT, '.venv', 'bin');

/** Starts the server (it runs until stopped); fails at once when no version holds the alias. */
export async function serveModel(config: PipelineConfig, options: Omit<ServeOptions, 'config'>): Promise<ModelServer> {
  const { modelName } = config.register;
  const { trackingUri } = config.mlflow;
  const version = await new MlflowClient(trackingUri).aliasVersion(modelName, options.alias);
  if (version === null) {
    throw new Error(
      `no version of ${modelName} holds the alias "${options.alias}" in MLflow at ${trackingUri}: run a pipeline first, or pass --alias`,
    );
  }
  const child = execa(
    path.join(VENV_BIN, 'mlflow'),
    ['models', 'serve', '-m', `models:/${modelName}@${options.alias}`, '--env-manager', 'local', '-h', options.host, '-p', String(options.port)],
    {
      // mlflow starts uvicorn by name: the venv's bin must come first on PATH.
      env: { MLFLOW_TRACKING_URI: trackingUri, PATH: `${VENV_BIN}${path.delimiter}${process.env.PATH ?? ''}` },
      stdio: 'inherit',
      detached: true,
    },
  );
  return {
    url: `http://${options.host}:${options.port}`,
    process: child,
    stop: () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
    },
  };
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  const config = options.config ? await loadConfigFile(options.config) : PipelineConfig.parse({});
  const server = await serveModel(config, options);
  console.log(`serving models:/${config.register.modelName}@${options.alias}: POST ${server.url}/invocations`);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopping = true;
      server.stop();
    });
  }
  try {
    await server.process;
  } catch (err) {
    // Stopped on request is the normal end; anything else is mlflow failing to start or serve.
    if (!stopping) throw new Error(`mlflow models serve stopped: ${(err as Error).message}`);
  }
}
