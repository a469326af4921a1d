/**
 * Starting pipelines from code: the typed entry point the CLI and schedules use too.
 *
 *   const handle = await startPipeline(client, { name: 'nightly', model: { nameOrPath: 't5-small' } });
 *   const result = await handle.result();
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { parseConfig, type PipelineConfigInput } from '../lib/config';
import { TASK_QUEUES } from '../lib/task-queues';
import { temporalSettings } from '../lib/temporal-settings';
import { fineTunePipeline } from '../workflows/finetune-pipeline';

export type PipelineHandle = WorkflowHandle<typeof fineTunePipeline>;

export async function connectClient(): Promise<Client> {
  const connection = await Connection.connect({ address: temporalSettings.address });
  return new Client({ connection, namespace: temporalSettings.namespace });
}

/** A readable, unique id: `<config name>-<UTC timestamp>-<random>`. */
export function newPipelineId(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * Validates the config (throwing InvalidConfigError with every bad field, before anything
 * starts) and starts a FineTunePipeline.
 */
export async function startPipeline(
  client: Client,
  config: PipelineConfigInput,
  options: { workflowId?: string } = {},
): Promise<PipelineHandle> {
  const validated = parseConfig(config);
  return client.workflow.start(fineTunePipeline, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: options.workflowId ?? newPipelineId(validated.name),
    args: [{ config: validated }],
    staticSummary: `fine-tune ${validated.model.nameOrPath} on ${validated.data.input}`,
  });
}
