/**
 * `tuneflow summarize --text "..."`: one summary from a model directory, with its latency, without
 * Temporal (a person trying a model, or measuring the single-request path). A generation engine
 * answers it (lib/python-step/engine-pool.ts, the one GPU workers run for bulk summaries), with
 * the config's summarize.engine: the latency is what a warm engine serves.
 */
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { loadConfigFile } from '../lib/config-file';
import { parseConfig, type PipelineConfig } from '../lib/config';
import { resolveFromRepo } from '../lib/artifacts';
import { SummarizeTextResult, SummarizeTextSpec } from '../lib/steps';
import { generationEngines, stopGenerationEngines } from '../lib/python-step';

export interface SummarizeTextOptions {
  text: string;
  model?: string;
  config?: string;
  repeat: number;
  json?: boolean;
}

/** The spec for one text: generation settings as a pipeline with `config` would summarize a product. */
export function summarizeTextSpec(options: SummarizeTextOptions, config: PipelineConfig): SummarizeTextSpec {
  const modelDir = resolveFromRepo(options.model ?? config.model.nameOrPath);
  if (!existsSync(path.join(modelDir, 'config.json'))) {
    const source = options.model ? `--model ${options.model}` : `model.nameOrPath ${config.model.nameOrPath}`;
    throw new Error(
      `${source}: ${modelDir} holds no model (no config.json); pass --model with a trained model directory ` +
        '(a pipeline writes it under <storage.root>/<pipeline id>/train/model), or run `npm run demo` to build the demo model',
    );
  }
  const parsed = SummarizeTextSpec.safeParse({
    text: options.text,
    modelDir,
    generation: {
      prefix: config.model.sourcePrefix,
      maxSourceLength: config.model.maxSourceLength,
      numBeams: config.summarize.numBeams,
      minNewTokens: config.summarize.minNewTokens,
      maxNewTokens: config.summarize.maxNewTokens,
      ...config.generation,
    },
    repeat: options.repeat,
    engine: { name: config.summarize.engine, computeType: config.summarize.computeType },
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`tuneflow summarize: ${issues}`);
  }
  return parsed.data;
}

export async function summarizeText(options: SummarizeTextOptions): Promise<void> {
  const config = options.config ? await loadConfigFile(options.config) : parseConfig({});
  const spec = summarizeTextSpec(options, config);
  // The library's own output (weight-loading progress bars) is noise here; failures keep its tail.
  process.env.TUNEFLOW_QUIET_PYTHON = '1';
  let result: SummarizeTextResult;
  try {
    result = SummarizeTextResult.parse(await generationEngines().run({ request: 'summarizeText', spec }, 'summarize --text', () => {}));
  } finally {
    await stopGenerationEngines();
  }
  if (options.json) {
    console.log(JSON.stringify({ ...result, modelDir: spec.modelDir, generation: spec.generation }, null, 2));
    return;
  }
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const { latencyMs } = result;
  console.log(result.summary);
  console.log(
    `latency ${ms(latencyMs.first)}` +
      (latencyMs.samples > 1 ? `, p50 ${ms(latencyMs.p50)} / p95 ${ms(latencyMs.p95)} over ${latencyMs.samples} calls` : '') +
      ` on ${result.device}, ${result.engine.name} ${result.engine.computeType} (model load ${ms(result.loadMs)}; ${spec.generation.numBeams} beams, ` +
      `${spec.generation.minNewTokens}-${spec.generation.maxNewTokens} new tokens)`,
  );
}
