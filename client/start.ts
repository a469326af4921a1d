/**
 * Starting pipelines from code: the typed entry point the CLI and schedules use too.
 *
 *   const handle = await startPipeline(client, { name: 'nightly', model: { nameOrPath: 't5-small' } });
 *   const result = await handle.result();
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { parseConfig, type PipelineConfig, type PipelineConfigInput } from '../lib/config';
import { tuneflowDataConverter } from '../lib/payload-codec';
import { TASK_QUEUES } from '../lib/task-queues';
import { temporalSettings } from '../lib/temporal-settings';
import { fineTunePipeline } from '../workflows/finetune-pipeline';

export type PipelineHandle = WorkflowHandle<typeof fineTunePipeline>;

/** A client of the configured server; with TUNEFLOW_CODEC_KEYS set, it encrypts and decrypts payloads (lib/payload-codec.ts). */
export async function connectClient(): Promise<Client> {
  // The codec's settings first: a bad key fails before any connection is made.
  const dataConverter = tuneflowDataConverter();
  const connection = await Connection.connect({ address: temporalSettings.address });
  return new Client({ connection, namespace: temporalSettings.namespace, dataConverter });
}

/** A readable, unique id: `<config name>-<UTC timestamp>-<random>`. */
export function newPipelineId(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * What the Temporal UI shows on a pipeline before it has done anything (User Metadata): a
 * one-line summary and Markdown details naming the config, the model and the data, so a person
 * scanning the workflow list knows which run is which. Values are code spans: paths and model
 * names hold `_` and `*`, which Markdown would otherwise read as emphasis.
 */
export function pipelineMetadata(
  config: PipelineConfig,
  source: { configFile?: string; scheduleId?: string } = {},
): { staticSummary: string; staticDetails: string } {
  const { data, model } = config;
  const dataNotes = [
    data.category !== null ? `category \`${data.category}\`` : null,
    data.sampleFraction < 1 ? `sample ${data.sampleFraction} (seed ${data.seed})` : null,
  ].filter((note): note is string => note !== null);
  return {
    staticSummary: `${source.scheduleId ? `scheduled ${source.scheduleId}: ` : ''}fine-tune ${model.nameOrPath} on ${data.input}`,
    staticDetails: [
      `**pipeline** \`${config.name}\``,
      `**config file** ${source.configFile ? `\`${source.configFile}\`` : '(given in code)'}`,
      ...(source.scheduleId ? [`**schedule** \`${source.scheduleId}\``] : []),
      `**model** \`${model.nameOrPath}\` (starts from ${model.startFrom === 'champion' ? 'the current champion' : 'the base model'})`,
      `**data** \`${data.input}\`${dataNotes.length ? ` (${dataNotes.join(', ')})` : ''}`,
      `**registers** \`${config.register.modelName}\` in MLflow \`${config.mlflow.trackingUri}\``,
    ].join('\n\n'),
  };
}

/**
 * Validates the config (throwing InvalidConfigError with every bad field, before anything
 * starts) and starts a FineTunePipeline. `configFile` is only shown in the UI's details.
 */
export async function startPipeline(
  client: Client,
  config: PipelineConfigInput,
  options: { workflowId?: string; configFile?: string } = {},
): Promise<PipelineHandle> {
  const validated = parseConfig(config);
  return client.workflow.start(fineTunePipeline, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: options.workflowId ?? newPipelineId(validated.name),
    args: [{ config: validated }],
    ...pipelineMetadata(validated, { configFile: options.configFile }),
  });
}
