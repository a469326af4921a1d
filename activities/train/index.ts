/**
 * train: fine-tunes the model with Seq2SeqTrainer in `python -m tuneflow_ml.train`.
 *
 * A retried attempt (worker killed, heartbeat timeout) resumes from the latest complete
 * checkpoint: the pointer file under storage.root is authoritative (a SIGKILLed worker's last
 * heartbeat can be lost), the heartbeat details are the fallback. The MLflow run is found by the
 * pipeline's tag, so every attempt logs to the same run and the loss curve continues. Attempts
 * that fail the same way train.crashLoopAttempts times in a row end the step (lib/crash-loop.ts).
 */
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ChampionRef, TrainInput, TrainResult, TrainSpec } from '../../lib/steps';
import { resolveFromRepo, stepDir, writeFileAtomic } from '../../lib/artifacts';
import { recordAttemptFailure } from '../../lib/crash-loop';
import { hostfileNodes } from '../../lib/hostfile';
import { filterString, MlflowClient } from '../../lib/mlflow';
import { deepSpeedConfig } from '../../lib/deepspeed';
import { currentChampion } from '../../lib/champion';
import { SHUTDOWN_BUDGET } from '../../lib/shutdown-grace';
import { freePort, runStepActivity, type Launch } from '../../lib/python-step';
import { checkpointUploads, resumePoint } from './checkpoints';

export { latestCompleteCheckpoint, type LatestCheckpoint } from './checkpoints';

export async function train(rawInput: TrainInput): Promise<TrainResult> {
  try {
    return await runStepActivity(rawInput, {
      step: 'train',
      input: TrainInput,
      result: TrainResult,
      spec: trainSpec,
      launch: (input) => trainLaunch(input.config.train),
      sidecar: (input) => checkpointUploads(input.config, input.pipelineId),
      // A cancelled run must be gone in seconds; a worker shutting down lets the step checkpoint.
      graceSeconds: { cancel: 8, workerShutdown: SHUTDOWN_BUDGET.gpu.stepStopSeconds },
    });
  } catch (error) {
    // train retries without limit (a lost worker must not end the run): a crash loop must end it.
    const input = TrainInput.safeParse(rawInput);
    if (!input.success) throw error;
    const dir = stepDir(input.data.config, input.data.pipelineId, 'train');
    throw await recordAttemptFailure(dir, 'train', error, input.data.config.train.crashLoopAttempts);
  }
}

/** The spec of this attempt: the pinned start model, the pipeline's MLflow run, where to resume. */
async function trainSpec(input: TrainInput, outputDir: string): Promise<TrainSpec> {
  const startFrom = await pinnedStart(input, outputDir);
  const mlflowRunId = await ensurePipelineRun(input, startFrom);
  const resumeFrom = await resumePoint(input.config, input.pipelineId, outputDir);
  return {
    ...input,
    outputDir,
    mlflowRunId,
    resumeFromCheckpoint: resumeFrom?.checkpoint ?? null,
    deepspeedConfig: deepSpeedConfig(input.config.train),
    startFrom,
  };
}

/**
 * DeepSpeed or several GPUs: the DeepSpeed launcher, one rank per GPU (per slot of every node
 * with a hostfile); else one Python process.
 */
async function trainLaunch(train: TrainInput['config']['train']): Promise<Launch> {
  if (train.deepspeed === null && train.numGpus <= 1) return { kind: 'python' };
  const multiNode =
    train.hostfile === null
      ? null
      : { hostfile: resolveFromRepo(train.hostfile), nodes: await hostfileNodes(train.hostfile), masterAddr: train.masterAddr };
  return { kind: 'deepspeed', numGpus: Math.max(train.numGpus, 1), masterPort: await freePort(), multiNode };
}

const StartModel = z.object({ startFrom: ChampionRef.nullable() });

/**
 * With model.startFrom `champion`, the champion when the first attempt ran, recorded under the
 * step's folder: a retry starts from the same weights even if the alias has moved since.
 */
async function pinnedStart(input: TrainInput, outputDir: string): Promise<ChampionRef | null> {
  if (input.config.model.startFrom === 'base') return null;
  const record = path.join(outputDir, 'start-model.json');
  try {
    return StartModel.parse(JSON.parse(await readFile(record, 'utf8'))).startFrom;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const startFrom = await currentChampion(input.config.mlflow.trackingUri, input.config.register.modelName);
  await writeFileAtomic(record, JSON.stringify({ startFrom } satisfies z.infer<typeof StartModel>));
  return startFrom;
}

/** The pipeline's one MLflow run: created by the first attempt, found again by every retry. */
export async function ensurePipelineRun(input: TrainInput, startFrom: ChampionRef | null): Promise<string> {
  const mlflow = new MlflowClient(input.config.mlflow.trackingUri);
  const experimentId = await mlflow.ensureExperiment(input.config.mlflow.experiment);
  const [existing] = await mlflow.searchRuns([experimentId], `tags.\`tuneflow.pipeline_id\` = ${filterString(input.pipelineId)}`, 1);
  if (existing) return existing.info.run_id;
  const run = await mlflow.createRun(experimentId, input.pipelineId, {
    'tuneflow.pipeline_id': input.pipelineId,
    'tuneflow.base_model': input.config.model.nameOrPath,
    'tuneflow.start_model': startFrom?.modelUri ?? input.config.model.nameOrPath,
    'tuneflow.config_name': input.config.name,
  });
  return run.info.run_id;
}
