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
import { readdir, readFile } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { ChampionRef, TrainInput, TrainResult, TrainSpec } from '../lib/steps';
import { resolveFromRepo, stepDir, writeFileAtomic } from '../lib/artifacts';
import { recordAttemptFailure } from '../lib/crash-loop';
import { hostfileNodes } from '../lib/hostfile';
import { filterString, MlflowClient } from '../lib/mlflow';
import { deepSpeedConfig } from '../lib/deepspeed';
import { currentChampion } from '../lib/champion';
import { SHUTDOWN_BUDGET } from '../lib/shutdown-grace';
import { InvalidDataError } from '../lib/failures';
import { freePort, runStepActivity, StepHeartbeat, type Launch } from '../lib/python-step';

const LatestCheckpoint = z.object({ checkpoint: z.string(), globalStep: z.number().int().nonnegative() });
export type LatestCheckpoint = z.infer<typeof LatestCheckpoint>;

export async function train(rawInput: TrainInput): Promise<TrainResult> {
  try {
    return await runStepActivity(rawInput, {
      step: 'train',
      input: TrainInput,
      result: TrainResult,
      spec: trainSpec,
      launch: (input) => trainLaunch(input.config.train),
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
  const resumeFrom = await latestCompleteCheckpoint(outputDir, heartbeatCheckpoint());
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

function heartbeatCheckpoint(): LatestCheckpoint | null {
  let details: unknown;
  try {
    details = Context.current().info.heartbeatDetails;
  } catch {
    return null;
  }
  const parsed = StepHeartbeat.safeParse(details);
  const checkpoint = parsed.success ? parsed.data.checkpoint : null;
  return checkpoint ? { checkpoint: checkpoint.path, globalStep: checkpoint.step } : null;
}

/** The newer of the pointer file and the heartbeat, if its directory is complete on disk. */
export async function latestCompleteCheckpoint(
  outputDir: string,
  fromHeartbeat: LatestCheckpoint | null,
): Promise<LatestCheckpoint | null> {
  const candidates = [await readPointer(outputDir), fromHeartbeat]
    .filter((c): c is LatestCheckpoint => c !== null)
    .sort((a, b) => b.globalStep - a.globalStep);
  for (const candidate of candidates) {
    if (await isCompleteCheckpoint(candidate.checkpoint)) return candidate;
  }
  return null;
}

/**
 * The pointer file's checkpoint, null when there is no pointer. A pointer that cannot be read or
 * parsed must not restart training from step 0 unnoticed: the newest complete checkpoint on disk
 * stands in for it, and without one the step fails, saying what to do.
 */
async function readPointer(outputDir: string): Promise<LatestCheckpoint | null> {
  const file = path.join(outputDir, 'latest-checkpoint.json');
  let problem: string;
  try {
    const parsed = LatestCheckpoint.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (parsed.success) return parsed.data;
    problem = `it is not {"checkpoint": <dir>, "globalStep": <n>} (${z.prettifyError(parsed.error)})`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    problem = `it cannot be read as JSON (${(error as Error).message})`;
  }
  const checkpoints = path.join(path.resolve(outputDir), 'checkpoints');
  const newest = await newestCompleteCheckpoint(checkpoints);
  if (newest) return newest;
  throw new InvalidDataError(
    file,
    `${problem}, and ${checkpoints} holds no complete checkpoint-<step> directory to resume from instead`,
    `Delete ${file} to train from step 0, or rewrite it to name a complete checkpoint (one with a readable trainer_state.json), then retry.`,
  );
}

/** The highest-numbered `checkpoint-<step>` under `dir` that is complete, as the Trainer names them. */
async function newestCompleteCheckpoint(dir: string): Promise<LatestCheckpoint | null> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const steps = names
    .map((name) => /^checkpoint-(\d+)$/.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => b - a);
  for (const globalStep of steps) {
    const checkpoint = path.join(dir, `checkpoint-${globalStep}`);
    if (await isCompleteCheckpoint(checkpoint)) return { checkpoint, globalStep };
  }
  return null;
}

const TrainerState = z.object({ global_step: z.number().int().nonnegative() });

/**
 * The Trainer writes trainer_state.json last, but not atomically: a checkpoint is complete when
 * that file parses and names its step (a disk that filled mid-save can leave it cut short). The
 * same rule as python/tuneflow_ml/checkpoints.py is_complete_checkpoint.
 */
async function isCompleteCheckpoint(dir: string): Promise<boolean> {
  try {
    return TrainerState.safeParse(JSON.parse(await readFile(path.join(dir, 'trainer_state.json'), 'utf8'))).success;
  } catch {
    return false;
  }
}
