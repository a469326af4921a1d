/**
 * The pipeline configuration: the one contract every step reads.
 *
 * Every field has a default that serves the local demo, so `{}` is a valid config. Types come
 * from `z.infer`; the JSON Schema the Python side reads is generated from this schema
 * (`scripts/gen-config-schema.ts`) and checked in CI to match.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const fraction = z.number().gt(0).lte(1);

export const DataConfig = z
  .object({
    /** A `.tsv`, `.tsv.gz` (Amazon Customer Reviews format) or `.csv` (`text,summary`) file. */
    input: z.string().min(1).default('data/demo/camera_reviews.tsv.gz'),
    format: z.enum(['auto', 'amazon-tsv', 'csv']).default('auto'),
    /** Keep only this product_category (the seed keeps "Camera"); null keeps all. */
    category: z.string().min(1).nullable().default(null),
    /** Fraction of reviews kept, decided per review from a hash of (seed, review id). */
    sampleFraction: fraction.default(1),
    seed: z.number().int().default(42),
    /** Word caps of the seed's `clean_text`: 100 for the body, 20 for the headline. */
    maxTextWords: positiveInt.default(100),
    maxSummaryWords: positiveInt.default(20),
  })
  .strict();

export const SplitConfig = z
  .object({
    validationFraction: z.number().gt(0).lt(1).default(0.1),
    seed: z.number().int().default(42),
  })
  .strict();

export const ModelConfig = z
  .object({
    /** A hub name (`t5-small`) or a local directory that `from_pretrained` loads. */
    nameOrPath: z.string().min(1).default('state/models/tiny-t5'),
    sourcePrefix: z.string().default('summarize: '),
    maxSourceLength: positiveInt.default(512),
    maxTargetLength: positiveInt.default(64),
  })
  .strict();

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
    numGpus: z.number().int().nonnegative().default(1),
    deepspeed: DeepSpeedConfig.nullable().default(null),
    /** Checkpoint every K optimizer steps; the last `keepCheckpoints` are kept. */
    checkpointEverySteps: positiveInt.default(50),
    keepCheckpoints: positiveInt.default(2),
    loggingSteps: positiveInt.default(5),
    seed: z.number().int().default(42),
  })
  .strict();

export const EvaluateConfig = z
  .object({
    /** Validation rows scored; null scores them all. */
    maxSamples: positiveInt.nullable().default(null),
    numBeams: positiveInt.default(1),
    maxNewTokens: positiveInt.default(32),
    batchSize: positiveInt.default(32),
  })
  .strict();

export const RegisterConfig = z
  .object({
    /** Registered model name in MLflow. */
    modelName: z.string().min(1).regex(/^[\w.-]+$/, 'letters, digits, "_", "-" and "." only').default('tuneflow-review-headlines'),
  })
  .strict();

export const SummarizeConfig = z
  .object({
    /** Products with at least this many cleaned reviews get a product summary (the seed uses 10). */
    minReviews: positiveInt.default(10),
    numBeams: positiveInt.default(4),
    minNewTokens: z.number().int().nonnegative().default(8),
    maxNewTokens: positiveInt.default(48),
    batchSize: positiveInt.default(16),
    /** Also summarize every review on its own (besides one summary per product). */
    perReview: z.boolean().default(true),
  })
  .strict()
  .refine((s) => s.minNewTokens <= s.maxNewTokens, {
    message: 'minNewTokens must not exceed maxNewTokens',
    path: ['minNewTokens'],
  });

export const StorageConfig = z
  .object({
    /** Artifacts live under `<root>/<pipeline id>/<step>/`; shared storage when workers span hosts. */
    root: z.string().min(1).default('state/runs'),
  })
  .strict();

export const MlflowConfig = z
  .object({
    trackingUri: z.url().default('http://127.0.0.1:5000'),
    experiment: z.string().min(1).default('tuneflow'),
  })
  .strict();

export const PipelineConfig = z
  .object({
    name: z.string().min(1).regex(/^[\w.-]+$/, 'letters, digits, "_", "-" and "." only').default('demo'),
    data: DataConfig.default(DataConfig.parse({})),
    split: SplitConfig.default(SplitConfig.parse({})),
    model: ModelConfig.default(ModelConfig.parse({})),
    train: TrainConfig.default(TrainConfig.parse({})),
    evaluate: EvaluateConfig.default(EvaluateConfig.parse({})),
    register: RegisterConfig.default(RegisterConfig.parse({})),
    summarize: SummarizeConfig.default(SummarizeConfig.parse({})),
    storage: StorageConfig.default(StorageConfig.parse({})),
    mlflow: MlflowConfig.default(MlflowConfig.parse({})),
  })
  .strict();

export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type PipelineConfigInput = z.input<typeof PipelineConfig>;

/** One line per problem: `train.perDeviceTrainBatchSize: Too small: expected number to be >0`. */
export function formatConfigIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('\n');
}

export class InvalidConfigError extends Error {
  readonly name = 'InvalidConfigError';
  constructor(
    readonly source: string,
    readonly details: string,
  ) {
    super(`invalid config ${source}:\n${details}\nFix the fields above (see configs/demo.yaml for a complete example).`);
  }
}

/** Validates a parsed config object; throws `InvalidConfigError` naming every bad field. */
export function parseConfig(raw: unknown, source = '(inline)'): PipelineConfig {
  const result = PipelineConfig.safeParse(raw ?? {});
  if (!result.success) throw new InvalidConfigError(source, formatConfigIssues(result.error));
  return result.data;
}
