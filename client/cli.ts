/**
 * tuneflow CLI: start, watch and cancel fine-tuning pipelines.
 *
 *   tuneflow run --config configs/demo.yaml --wait
 *   tuneflow status <pipeline id>
 *   tuneflow cancel <pipeline id>
 *   tuneflow plan --config configs/t5-11b-zero3-offload.yaml
 *   tuneflow summarize --text "..." [--model DIR] [--json]
 *   tuneflow serve [--config FILE] [--alias champion] [--port 5001]
 *   tuneflow list --step train
 *   tuneflow schedule create nightly --config configs/t5-small.yaml --cron "0 2 * * *"
 */
import { Command } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { loadConfigFile } from '../lib/config-file';
import { InvalidConfigError } from '../lib/config';
import { MlflowClient } from '../lib/mlflow';
import { PipelineProgress, PipelineResult, PIPELINE_STEPS } from '../lib/pipeline';
import { workflowUrl } from '../lib/temporal-settings';
import type { StepHeartbeat } from '../activities/python-runner';
import { connectClient, startPipeline, type PipelineHandle } from './start';
import { addOpsCommands } from './ops-commands';
import { progressQuery } from '../workflows/finetune-pipeline';
import { summarizeText, type SummarizeTextOptions } from './summarize-text';
import { planCommand } from './plan';
import { serveCommand, type ServeOptions } from './serve';

const POLL_MS = 2_000;

async function run(options: { config: string; wait?: boolean; id?: string; json?: boolean }): Promise<void> {
  const config = await loadConfigFile(options.config);
  const client = await connectClient();
  const handle = await startPipeline(client, config, { workflowId: options.id });
  if (!options.json) {
    console.log(`started pipeline ${handle.workflowId}`);
    console.log(`  Temporal UI: ${workflowUrl(handle.workflowId)}`);
  }
  if (!options.wait) {
    if (options.json) console.log(JSON.stringify({ pipelineId: handle.workflowId }));
    return;
  }
  const result = await waitWithProgress(client, handle, !options.json);
  if (options.json) console.log(JSON.stringify(result, null, 2));
  else console.log(await finalTable(result));
}

/** Prints each step change and training/generation progress until the pipeline closes. */
async function waitWithProgress(client: Client, handle: PipelineHandle, print: boolean): Promise<PipelineResult> {
  const resultPromise = handle.result();
  let done = false;
  resultPromise.then(
    () => (done = true),
    () => (done = true),
  );
  let lastLine = '';
  while (!done) {
    const line = await progressLine(client, handle).catch(() => null);
    if (print && line && line !== lastLine) {
      console.log(line);
      lastLine = line;
    }
    await Promise.race([resultPromise.catch(() => undefined), sleep(POLL_MS)]);
  }
  try {
    return PipelineResult.parse(await resultPromise);
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as Error | undefined;
      throw new Error(`pipeline ${handle.workflowId} failed: ${cause?.message ?? err.message}`);
    }
    throw err;
  }
}

async function progressLine(client: Client, handle: PipelineHandle): Promise<string | null> {
  const progress = PipelineProgress.parse(await handle.query(progressQuery));
  if (!progress.currentStep) return null;
  if (progress.awaitingReview) return `[${progress.currentStep}] waiting for a person: ${progress.awaitingReview}`;
  const heartbeat = await currentHeartbeat(client, handle.workflowId);
  const p = heartbeat?.progress;
  const detail = p
    ? ` ${p.unit === 'steps' ? 'step' : 'example'} ${p.step}/${p.totalSteps}` +
      (p.epoch !== null ? ` epoch ${p.epoch.toFixed(2)}` : '') +
      (p.loss !== null ? ` loss ${p.loss.toFixed(4)}` : '') +
      (p.samplesPerSec !== null ? ` ${p.samplesPerSec.toFixed(1)} samples/s` : '') +
      (p.etaSeconds !== null ? ` ETA ${formatDuration(p.etaSeconds)}` : '') +
      (heartbeat?.checkpoint ? ` checkpoint@${heartbeat.checkpoint.step}` : '')
    : '';
  return `[${progress.currentStep}] running${detail}`;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The running activity's last heartbeat (training step, loss, checkpoint), as the UI shows it. */
async function currentHeartbeat(client: Client, workflowId: string): Promise<StepHeartbeat | null> {
  const description = await client.workflow.getHandle(workflowId).describe();
  const payload = description.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<StepHeartbeat>(payload) : null;
}

async function finalTable(result: PipelineResult): Promise<string> {
  const mlflow = new MlflowClient(result.config.mlflow.trackingUri);
  const run = await mlflow.getRun(result.train.mlflowRunId);
  const { evaluation, registered, summaries } = result;
  const { counts, quarantinePath } = result.clean;
  const rows: [string, string][] = [
    ['pipeline', result.pipelineId],
    ['rows read', String(counts.read)],
    ['rows kept', String(counts.kept)],
    ['rows quarantined', `${counts.quarantined} (${quarantinePath})`],
    ['rows dropped (empty after cleaning)', String(counts.droppedEmpty)],
    ['rows filtered / sampled out', `${counts.filteredCategory} / ${counts.sampledOut}`],
    ['train / validation rows', `${result.split.trainRows} / ${result.split.validationRows}`],
    ['training', `${result.train.globalStep} steps on ${result.train.device}, final loss ${result.train.trainLoss?.toFixed(4) ?? 'n/a'}`],
    [
      'ROUGE-1 / 2 / L / Lsum',
      [evaluation.rouge.rouge1, evaluation.rouge.rouge2, evaluation.rouge.rougeL, evaluation.rouge.rougeLsum]
        .map((v) => v.toFixed(4))
        .join(' / '),
    ],
    ['model version', `${registered.modelName} v${registered.version}`],
    ['champion gate', registered.gate ? `${registered.gate.alias} (decided by ${registered.gate.decidedBy})` : 'off (pipeline started before the gate)'],
    ...(registered.gate
      ? ([
          [
            'ROUGE-L new / champion',
            `${registered.gate.rougeL.toFixed(4)} / ${registered.gate.champion ? `${registered.gate.champion.rougeL.toFixed(4)} (v${registered.gate.champion.version})` : 'none'}`,
          ],
          ['  why', registered.gate.reason],
        ] as [string, string][])
      : []),
    ['product summaries', `${summaries.products.rows} -> ${summaries.products.parquet}`],
    ['review summaries', summaries.reviews ? `${summaries.reviews.rows} -> ${summaries.reviews.parquet}` : 'off'],
    ...PIPELINE_STEPS.map((step): [string, string] => [`  ${step}`, `${(result.stepDurationsMs[step] / 1000).toFixed(1)} s`]),
    ['Temporal UI', workflowUrl(result.pipelineId)],
    ['MLflow run', mlflow.runUrl(run.info.experiment_id, run.info.run_id)],
    ['MLflow model', mlflow.modelVersionUrl(registered.modelName, registered.version)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)].join('\n');
}

async function status(id: string, options: { json?: boolean }): Promise<void> {
  const client = await connectClient();
  const handle = client.workflow.getHandle(id);
  const description = await handle.describe();
  const progress = PipelineProgress.parse(await handle.query(progressQuery));
  const heartbeat = await currentHeartbeat(client, id);
  if (options.json) {
    console.log(JSON.stringify({ status: description.status.name, progress, heartbeat }, null, 2));
    return;
  }
  console.log(`${id}: ${description.status.name}  ${workflowUrl(id)}`);
  for (const step of PIPELINE_STEPS) {
    const s = progress.steps[step];
    const duration = s.durationMs !== null ? `${(s.durationMs / 1000).toFixed(1)} s` : '';
    console.log(`  ${step.padEnd(10)} ${s.state.padEnd(10)} ${duration}`);
  }
  if (heartbeat?.progress) console.log(`  progress: ${JSON.stringify(heartbeat.progress)}`);
  if (progress.error) console.log(`  error: ${progress.error}`);
}

async function cancel(id: string): Promise<void> {
  const client = await connectClient();
  await client.workflow.getHandle(id).cancel();
  console.log(`cancellation requested for ${id}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function buildCli(): Command {
  const program = new Command('tuneflow').description('Durable fine-tuning pipelines for T5 models');
  program
    .command('run')
    .description('start a fine-tuning pipeline')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML or JSON)')
    .option('-w, --wait', 'show live progress and the final table')
    .option('--id <workflowId>', 'pipeline id (default: <name>-<timestamp>)')
    .option('--json', 'machine-readable output')
    .action(run);
  program.command('status <id>').description('show a pipeline\'s steps').option('--json').action(status);
  program.command('cancel <id>').description('cancel a pipeline (training stops, checkpoints stay)').action(cancel);
  program
    .command('plan')
    .description('memory per GPU and on the host under each ZeRO stage and offload; exit 3 if the config does not fit')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML or JSON)')
    .option('--json', 'machine-readable output')
    .action(planCommand);
  program
    .command('summarize')
    .description('summarize one text with a model; prints the summary and the latency')
    .requiredOption('--text <text>', 'the text (a review, or reviews joined)')
    .option('--model <dir>', 'model directory (default: model.nameOrPath of the config)')
    .option('-c, --config <file>', 'take model.* and summarize.* generation settings from this pipeline config')
    .option('--repeat <n>', 'summarize it n times and report latency p50/p95', (v: string) => Number(v), 1)
    .option('--json', 'machine-readable output')
    .action((options: SummarizeTextOptions) => summarizeText(options));
  program
    .command('serve')
    .description('serve the registered model holding an alias as a REST endpoint (mlflow models serve)')
    .option('-c, --config <file>', 'take register.modelName and mlflow.trackingUri from this pipeline config')
    .option('--alias <alias>', 'registry alias to serve', 'champion')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v: string) => Number(v), 5001)
    .action((options: ServeOptions) => serveCommand(options));
  addOpsCommands(program);
  return program;
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .then(() => process.exit(process.exitCode ?? 0))
    .catch((err: Error) => {
      console.error(err instanceof InvalidConfigError ? err.message : `error: ${err.message}`);
      process.exit(err instanceof InvalidConfigError ? 2 : 1);
    });
}
