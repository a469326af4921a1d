/**
 * The training part of the pipeline config (`train`, with its DeepSpeed block): batch and
 * optimizer settings, GPUs and nodes, checkpoints and retries, evaluation during training.
 * lib/config.ts composes it into PipelineConfig and re-exports it.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

export const DeepSpeedConfig = z
  .object({
    stage: z.union([z.literal(2), z.literal(3)]),
    offloadOptimizer: z.boolean().default(false),
    offloadParam: z.boolean().default(false),
  })
  .strict()
  .refine((ds) => ds.stage === 3 || !ds.offloadParam, {
    message: 'offloadParam needs ZeRO stage 3 (stage 2 partitions optimizer state and gradients only)',
    path: ['offloadParam'],
  });

export const TrainConfig = z
  .object({
    epochs: z.number().positive().default(3),
    /** Caps the optimizer steps (for smoke runs); null trains the full epochs. */
    maxSteps: positiveInt.nullable().default(null),
    perDeviceTrainBatchSize: positiveInt.default(16),
    perDeviceEvalBatchSize: positiveInt.default(32),
    gradientAccumulationSteps: positiveInt.default(1),
    learningRate: z.number().positive().default(1e-3),
    optim: z.enum(['adafactor', 'adamw_torch']).default('adafactor'),
    /** `auto` uses bf16 where the device supports it (Ampere or newer GPUs). */
    bf16: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    gradientCheckpointing: z.boolean().default(false),
    /** Batches of similar lengths (less padding: faster at the same loss); false samples at random. */
    groupByLength: z.boolean().default(true),
    /** GPUs per host. More than one (or DeepSpeed) starts one process per GPU with the DeepSpeed launcher. */
    numGpus: z.number().int().nonnegative().default(1),
    /** Memory of each GPU, for the plan that refuses a config that cannot fit before a GPU is held. */
    gpuMemoryGiB: z.number().positive().default(80),
    /** Host memory per node, for the plan of CPU offload. */
    hostMemoryGiB: z.number().positive().default(256),
    deepspeed: DeepSpeedConfig.nullable().default(null),
    /**
     * DeepSpeed hostfile (`host slots=N` lines, one rank per slot) for several nodes, started over
     * ssh by pdsh from this worker; storage.root must then be a volume every node mounts.
     */
    hostfile: z.string().min(1).nullable().default(null),
    /**
     * The address the ranks rendezvous at (the first host's, as the other nodes reach it); null lets
     * DeepSpeed ask the first host (`hostname -I`, its first address).
     */
    masterAddr: z
      .string()
      .regex(/^[A-Za-z0-9._:-]+$/, 'a host name or an IP address (it reaches every node\'s shell through pdsh)')
      .nullable()
      .default(null),
    /**
     * A collective (all-reduce, barrier) that waits this long for a rank fails the whole gang, so
     * a lost node costs seconds to minutes, not torch's 30-minute default. Keep it above the
     * longest checkpoint save: ranks wait at a barrier while rank 0 writes.
     */
    collectiveTimeoutSeconds: positiveInt.default(600),
    /**
     * A crash loop: train ends, non-retryable, once this many attempts in a row failed with the
     * same error (a bug, not a fault). Infrastructure faults (a lost worker, node or rank, full
     * storage) never count: they retry for as long as the workflow's policy allows.
     */
    crashLoopAttempts: positiveInt.default(3),
    /** Checkpoint every K optimizer steps, and also every M minutes if set; the last `keepCheckpoints` are kept. */
    checkpointEverySteps: positiveInt.default(50),
    checkpointEveryMinutes: z.number().positive().nullable().default(null),
    keepCheckpoints: positiveInt.default(2),
    loggingSteps: positiveInt.default(5),
    seed: z.number().int().default(42),
    /** A worker that stops heartbeating this long is presumed dead; the retry resumes from the last checkpoint. */
    heartbeatTimeoutSeconds: positiveInt.default(120),
    /**
     * Every this many optimizer steps, headlines for `evalSamples` validation rows (a fixed subset,
     * drawn with train.seed) are generated with the evaluate and generation settings and scored:
     * ROUGE-1/2/L and the validation loss go to the MLflow run as curves (val_rouge1, val_rouge2,
     * val_rougeL, val_loss), and the checkpoint with the best ROUGE-L is the model that evaluate
     * scores and register registers (kept whatever keepCheckpoints says). Each evaluation costs
     * about what evaluate costs on `evalSamples` rows (docs/operations.md). null: off.
     */
    evalEverySteps: positiveInt.nullable().default(null),
    evalSamples: positiveInt.default(200),
    /**
     * Stop once the validation loss has gone `patience` evaluations in a row without falling more
     * than `minDelta` (a fraction of its best) below its best, with no new best validation ROUGE-L
     * among them, and never before step `minSteps` (null: one epoch, and at least a fifth of the
     * configured steps). The loss decides because on the same rows it moves only with the model,
     * while ROUGE-L on a few hundred rows moves by more than its standard error between
     * evaluations (docs/operations.md); ROUGE-L still chooses the best checkpoint. The result and
     * the report say when it stopped, on what, and the steps and GPU-hours saved. null: train every
     * configured step. Needs evalEverySteps.
     */
    earlyStopping: z
      .object({
        patience: positiveInt.default(3),
        minDelta: z.number().nonnegative().lt(1).default(0.005),
        minSteps: positiveInt.nullable().default(null),
      })
      .strict()
      .nullable()
      .default(null),
  })
  .strict()
  .refine((t) => t.hostfile === null || t.deepspeed !== null, {
    message: 'hostfile needs train.deepspeed: several nodes are started by the DeepSpeed launcher',
    path: ['hostfile'],
  })
  .refine((t) => t.earlyStopping === null || t.evalEverySteps !== null, {
    message: 'earlyStopping needs train.evalEverySteps: it stops on the evaluations during training',
    path: ['earlyStopping'],
  })
  // With epochs instead of maxSteps the train step checks it: the steps an epoch makes need the data.
  .superRefine((t, ctx) => {
    const minSteps = t.earlyStopping?.minSteps;
    if (minSteps != null && t.maxSteps !== null && minSteps > t.maxSteps) {
      ctx.addIssue({
        code: 'custom',
        path: ['earlyStopping', 'minSteps'],
        message: `${minSteps} is beyond train.maxSteps (${t.maxSteps}): early stopping could never stop; lower minSteps or raise maxSteps`,
      });
    }
  })
  // The Trainer keeps the best checkpoint only if every checkpoint step is also an evaluation step.
  .refine((t) => t.evalEverySteps === null || t.checkpointEverySteps % t.evalEverySteps === 0, {
    message: 'checkpointEverySteps must be a multiple of evalEverySteps (every checkpoint is scored, so the best one is known)',
    path: ['evalEverySteps'],
  });
