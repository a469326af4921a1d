/**
 * tuneflow CLI: start, watch and cancel fine-tuning pipelines.
 *
 *   tuneflow run --config configs/demo.yaml --wait
 *   tuneflow status <pipeline id>          (the DAG: state, attempts, duration per step)
 *   tuneflow cancel <pipeline id>
 *   tuneflow plan --config configs/t5-11b-zero3-offload.yaml
 *   tuneflow summarize --text "..." [--model DIR] [--json]
 *   tuneflow serve [--config FILE] [--alias champion] [--port 5001]
 *   tuneflow codec-server [--port 8888]      (decrypted payloads in the Temporal UI)
 *   tuneflow list --step train
 *   tuneflow compare <pipeline id>... [--html FILE]  (the seed's closing table across runs)
 *   tuneflow schedule create nightly --config configs/t5-small.yaml --cron "0 2 * * *"
 *
 * Every command but `serve` and `codec-server` (foreground servers) takes `--json` for scripts.
 */
import * as path from 'node:path';
import { Command } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { loadConfigFile } from '../lib/config-file';
import { formatConfigIssues } from '../lib/config';
import { InvalidConfigError } from '../lib/failures';
import { describeFailure, failureCause } from '../lib/failure-cause';
import { MlflowClient } from '../lib/mlflow';
import { ENCRYPTED_ENCODING } from '../lib/payload-codec';
import { PipelineResult } from '../lib/pipeline';
import { workflowUrl } from '../lib/temporal-settings';
import { connectClient, startPipeline, type PipelineHandle } from './start';
import { addOpsCommands } from './ops-commands';
import { currentProgress, pipelineStatus, stepOfActivity } from './status/pipeline';
import { finalTable, statusText, type MlflowLinks } from './render/pipeline-tables';
import { ProgressPrinter } from './render/printer';
import { summarizeText, type SummarizeTextOptions } from './summarize-text';
import { planCommand } from './plan';
import { serveCommand, type ServeOptions } from './serve';
import { codecServerCommand } from './codec-server';
import { compareCommand, type CompareOptions } from './compare';

const POLL_MS = 2_000;

async function run(options: { config: string; wait?: boolean; id?: string; json?: boolean }): Promise<void> {
  const config = await loadConfigFile(options.config);
  const client = await connectClient();
  const handle = await startPipeline(client, config, { workflowId: options.id, configFile: path.resolve(options.config) });
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
  else console.log(finalTable(result, await mlflowLinks(result)));
}

/**
 * Shows the running step's progress until the pipeline closes: a bar redrawn in place on a
 * terminal, a plain line per change otherwise (client/render/printer.ts).
 */
async function waitWithProgress(client: Client, handle: PipelineHandle, print: boolean): Promise<PipelineResult> {
  const resultPromise = handle.result();
  let done = false;
  resultPromise.then(
    () => (done = true),
    () => (done = true),
  );
  const printer = new ProgressPrinter();
  while (!done) {
    // A poll that fails (the server restarting, a query racing the end) is retried on the next tick.
    const current = await currentProgress(client, handle.workflowId).catch(() => null);
    if (print && current) printer.show(current);
    await Promise.race([resultPromise.catch(() => undefined), sleep(POLL_MS)]);
  }
  if (print) printer.finish();
  let raw: unknown;
  try {
    raw = await resultPromise;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const step = stepOfActivity(failureCause(err.cause).activityType);
      throw new Error(`pipeline ${handle.workflowId} failed: ${describeFailure(err.cause ?? err, step ?? undefined)}`);
    }
    throw err;
  }
  const parsed = PipelineResult.safeParse(raw);
  if (!parsed.success) {
    // The pipeline completed; only this CLI cannot read its result (workers of another version).
    throw new Error(
      `pipeline ${handle.workflowId} completed, but its result does not match this CLI's contract:\n${formatConfigIssues(parsed.error)}\n` +
        `Run the CLI of the workers' version, or read the raw result with \`temporal workflow show --workflow-id ${handle.workflowId}\``,
    );
  }
  return parsed.data;
}

/** The MLflow pages of a completed pipeline's run and model version (the run's page needs its experiment). */
async function mlflowLinks(result: PipelineResult): Promise<MlflowLinks> {
  const mlflow = new MlflowClient(result.config.mlflow.trackingUri);
  const run = await mlflow.getRun(result.train.mlflowRunId);
  return {
    run: mlflow.runUrl(run.info.experiment_id, run.info.run_id),
    model: mlflow.modelVersionUrl(result.registered.modelName, result.registered.version),
  };
}

async function status(id: string, options: { json?: boolean }): Promise<void> {
  const result = await pipelineStatus(await connectClient(), id);
  console.log(options.json ? JSON.stringify(result, null, 2) : statusText(result));
}

async function cancel(id: string, options: { json?: boolean }): Promise<void> {
  const client = await connectClient();
  await client.workflow.getHandle(id).cancel();
  console.log(options.json ? JSON.stringify({ pipelineId: id, cancelRequested: true }) : `cancellation requested for ${id}`);
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
  program
    .command('status <id>')
    .description("show a pipeline's steps: state, attempts, duration, and the running step's progress")
    .option('--json', 'machine-readable output')
    .action(status);
  program
    .command('cancel <id>')
    .description('cancel a pipeline (training stops, checkpoints stay)')
    .option('--json', 'machine-readable output')
    .action(cancel);
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
    // No --json: it runs the server in the foreground until stopped; the server speaks JSON itself.
    .description('serve the registered model holding an alias as a REST endpoint (mlflow models serve)')
    .option('-c, --config <file>', 'take register.modelName and mlflow.trackingUri from this pipeline config')
    .option('--alias <alias>', 'registry alias to serve', 'champion')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v: string) => Number(v), 5001)
    .action((options: ServeOptions) => serveCommand(options));
  program
    .command('codec-server')
    .description("serve Temporal's codec endpoint (POST /decode, /encode) with TUNEFLOW_CODEC_KEYS, so the Temporal UI shows decrypted payloads")
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v: string) => Number(v), 8888)
    .option('--ui-origin <origin...>', "the Temporal UI's origin(s) allowed to call it (default: TEMPORAL_UI_URL's)")
    .action((options: { host: string; port: number; uiOrigin?: string[] }) => codecServerCommand(options));
  program
    .command('compare <ids...>')
    .description("the seed's closing table across finished pipelines: size, tuning time, cost, latency, ROUGE-L beside the baselines")
    .option('--html <file>', 'also write a self-contained HTML page with the table and its plots')
    .option('--json', 'machine-readable output')
    .action((ids: string[], options: CompareOptions) => compareCommand(ids, options));
  addOpsCommands(program);
  return program;
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .then(() => process.exit(process.exitCode ?? 0))
    .catch((err: Error) => {
      // What the SDK says of an encrypted payload in a process without the codec's keys.
      const encrypted = err.message.includes(`Unknown encoding: ${ENCRYPTED_ENCODING}`)
        ? '\nThe payloads are encrypted: set TUNEFLOW_CODEC_KEYS and TUNEFLOW_CODEC_KEY_ID as for the workers (docs/operations.md, "Payload encryption").'
        : '';
      console.error(err instanceof InvalidConfigError ? err.message : `error: ${err.message}${encrypted}`);
      process.exit(err instanceof InvalidConfigError ? 2 : 1);
    });
}
