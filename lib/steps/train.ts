/**
 * Contracts of the train step (`python -m tuneflow_ml.train` reads TrainSpec, writes TrainResult)
 * and of its memory plan (`python -m tuneflow_ml.plan` reads PlanSpec, writes PlanResult).
 */
import { z } from 'zod';
import { PipelineConfig } from '../config';
import { ChampionRef, count, path, StepInput } from './common';

export const TrainInput = StepInput.extend({ trainPath: path, validationPath: path });
export type TrainInput = z.infer<typeof TrainInput>;

/** Written by the activity as `train/spec.json` for `python -m tuneflow_ml.train`. */
export const TrainSpec = TrainInput.extend({
  outputDir: path,
  mlflowRunId: z.string().min(1),
  /** A complete checkpoint to resume from (optimizer, scheduler and data order restored). */
  resumeFromCheckpoint: path.nullable(),
  /** The DeepSpeed config (lib/deepspeed.ts), or null to train without DeepSpeed. */
  deepspeedConfig: z.record(z.string(), z.unknown()).nullable(),
  /** The champion to start from (model.startFrom), pinned by the first attempt; null: model.nameOrPath. */
  startFrom: ChampionRef.nullable(),
});
export type TrainSpec = z.infer<typeof TrainSpec>;

export const TrainResult = z.object({
  modelDir: path,
  mlflowRunId: z.string().min(1),
  /** `models:/<id>` of the model logged to the run (MLflow 3 logged model). */
  modelUri: z.string().min(1),
  globalStep: count,
  trainLoss: z.number().nullable(),
  device: z.string(),
  bf16: z.boolean(),
  resumedFrom: path.nullable(),
  /**
   * Per-step metric points MLflow did not confirm (down longer than its HTTP retries); the run
   * then carries the tag `tuneflow.metrics_not_logged` with this count.
   */
  metricsNotLogged: count,
  /**
   * With an s3:// storage.root, where the checkpoint uploads stood when training ended: the step
   * the stored pointer names and how many steps it lagged behind the newest local checkpoint
   * (filled in by the activity, not the Python step); null with a folder root.
   */
  checkpointUploads: z.object({ storedStep: count.nullable(), lagSteps: count }).nullable().default(null),
  /** The evaluations during training (train.evalEverySteps); null when off. */
  evaluations: z
    .object({
      /** Evaluations in the Trainer's history, every attempt included. */
      done: count,
      /** Validation rows each one scored (train.evalSamples, at most the validation split). */
      samples: count,
      /** Time the evaluations took, as the Trainer's history logged it. */
      seconds: z.number().nonnegative(),
      /**
       * The checkpoint with the best validation ROUGE-L: the saved model (modelDir) is its weights.
       * rougeLStdErr: that ROUGE-L's standard error over the rows scored (null in a history without it).
       */
      best: z.object({ step: count, rougeL: z.number(), rougeLStdErr: z.number().nullable(), checkpoint: path }).nullable(),
    })
    .nullable(),
  /** What train.earlyStopping did; null without it. */
  earlyStopping: z
    .object({
      stopped: z.boolean(),
      /** The step training ended at. */
      step: count,
      /** The steps the configured epochs (or train.maxSteps) make. */
      configuredSteps: count,
      stepsSaved: count,
      /** stepsSaved at this attempt's mean seconds per step (evaluations included) x the GPUs it held; 0 on CPUs. */
      gpuHoursSaved: z.number().nonnegative(),
      /** Why and when it stopped, or why it ran every step. */
      reason: z.string(),
      /** What the decision rested on: the signal, the settings in force, the best validation loss. */
      basis: z.object({
        signal: z.literal('validationLoss'),
        patience: count,
        /** The smallest fall of the validation loss, as a fraction of its best, that counts as progress. */
        minDelta: z.number(),
        /** No stop before this step: train.earlyStopping.minSteps, or one epoch and at least a fifth of the steps. */
        warmupSteps: count,
        bestLoss: z.object({ step: count, value: z.number() }).nullable(),
        /** Validation rows each evaluation scored. */
        rowsScored: count,
      }),
    })
    .nullable(),
});
export type TrainResult = z.infer<typeof TrainResult>;

/** The memory plan of a training config (python/tuneflow_ml/plan.py). */
export const PlanSpec = z.object({
  config: PipelineConfig,
  /** Nodes in train.hostfile (1 without one). */
  nodes: z.number().int().positive(),
  /** Ranks per node: the hostfile's slots, else train.numGpus. */
  gpusPerNode: z.number().int().positive(),
  /** Fail with InvalidConfig when the configured choice does not fit. */
  enforce: z.boolean(),
  /**
   * The model's config must load as training will load it; false lets `tuneflow plan` size a
   * public T5 by name on a host without the hub.
   */
  requireModel: z.boolean(),
});
export type PlanSpec = z.infer<typeof PlanSpec>;

const PlanOption = z.object({
  stage: z.union([z.literal(2), z.literal(3)]).nullable(),
  offloadOptimizer: z.boolean(),
  offloadParam: z.boolean(),
  gpuGiB: z.number().nonnegative(),
  hostGiB: z.number().nonnegative(),
  fits: z.boolean(),
});

export const PlanResult = z.object({
  model: z.string(),
  totalParams: count,
  largestLayerParams: count,
  /** All GPUs: nodes x GPUs per node. */
  gpus: count,
  gpuMemoryGiB: z.number(),
  hostMemoryGiB: z.number(),
  activationsGiBPerGpu: z.number().nonnegative(),
  options: z.array(PlanOption),
  chosen: PlanOption,
});
export type PlanResult = z.infer<typeof PlanResult>;
