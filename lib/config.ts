/**
 * The pipeline configuration: the one contract every step reads.
 *
 * Every field has a default that serves the local demo, so `{}` is a valid config. Types come
 * from `z.infer`; the JSON Schema the Python side reads is generated from this schema
 * (`scripts/gen-config-schema.ts`) and checked in CI to match.
 */
import { z } from 'zod';
import { InvalidConfigError } from './failures';
import { DeepSpeedConfig, TrainConfig } from './train-config';

export { DeepSpeedConfig, TrainConfig };

const positiveInt = z.number().int().positive();
const fraction = z.number().gt(0).lte(1);

/** How review text is cleaned; both modes are described with examples in docs/data-preparation.md. */
export const CleaningMode = z.enum(['seed', 'default']);
export type CleaningMode = z.infer<typeof CleaningMode>;

/** A column: its name in the header, or (with `data.header: false`) its 1-based position. */
const ColumnRef = z.union([z.string().min(1), positiveInt], {
  error: 'expected a column name, or (with data.header false) a position: a whole number, 1 for the first column',
});

/**
 * Which input column holds each field. A field left out takes its format's default: the Amazon
 * Customer Reviews names for `amazon-tsv` (review_body, review_headline, product_id, review_id,
 * product_category, star_rating), and text, summary, product_id, review_id, product_category,
 * star_rating for csv, jsonl and parquet. Without a header (`data.header: false`) every column is
 * a position (`text: 3`) and a field left out is not read.
 */
export const ColumnMapping = z
  .object({
    text: ColumnRef.optional(),
    summary: ColumnRef.optional(),
    productId: ColumnRef.optional(),
    reviewId: ColumnRef.optional(),
    category: ColumnRef.optional(),
    rating: ColumnRef.optional(),
  })
  .strict();
export type ColumnMapping = z.infer<typeof ColumnMapping>;

/** The input formats clean reads. */
export const FileFormat = z.enum(['amazon-tsv', 'csv', 'jsonl', 'parquet']);
export type FileFormat = z.infer<typeof FileFormat>;

export const DataConfig = z
  .object({
    /**
     * A file, a folder (every .tsv, .tsv.gz, .csv, .csv.gz, .jsonl, .jsonl.gz, .ndjson and .parquet
     * file under it) or a glob (`data/raw/part-*.tsv.gz`, `**` crosses folders). Relative paths
     * resolve against the repository root.
     */
    input: z.string().min(1).default('data/demo/camera_reviews.tsv.gz'),
    /**
     * With a folder or a glob: `all` cleans every file; `newest` only the most recently modified
     * one, so a scheduled run takes the latest data drop.
     */
    select: z.enum(['all', 'newest']).default('all'),
    /** `auto` tells each file's format from its name. */
    format: z.enum(['auto', ...FileFormat.options]).default('auto'),
    /**
     * false: CSV and TSV files have no header line (the first line is a row), and data.columns
     * names every column by its 1-based position, text and summary included.
     */
    header: z.boolean().default(true),
    columns: ColumnMapping.default({}),
    cleaning: CleaningMode.default('default'),
    /** Keep only this product_category (the seed keeps "Camera"); null keeps all. */
    category: z.string().min(1).nullable().default(null),
    /** Fraction of reviews kept, decided per review from a hash of (seed, review id). */
    sampleFraction: fraction.default(1),
    seed: z.number().int().default(42),
    /** Word caps of the seed's `clean_text`: 100 for the body, 20 for the headline. */
    maxTextWords: positiveInt.default(100),
    maxSummaryWords: positiveInt.default(20),
    /** Rows with fewer words after cleaning are dropped; 1 drops only empty texts (the seed's rule). */
    minTextWords: positiveInt.default(1),
    minSummaryWords: positiveInt.default(1),
    /** A longer field (in characters, before cleaning) is quarantined: no review is that long. */
    maxFieldChars: positiveInt.default(100_000),
    /**
     * Threads that clean files (and 16 MB ranges of uncompressed TSVs) in parallel; null: one per
     * 16 MB of input, at most one per CPU (a thread costs about a second to start).
     */
    threads: positiveInt.nullable().default(null),
  })
  .strict()
  .refine((data) => data.minTextWords <= data.maxTextWords && data.minSummaryWords <= data.maxSummaryWords, {
    message: 'minTextWords and minSummaryWords must not exceed maxTextWords and maxSummaryWords',
    path: ['minTextWords'],
  })
  .superRefine((data, ctx) => {
    const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const fields = ColumnMapping.keyof().options;
    if (data.header) {
      for (const field of fields) {
        const column = data.columns[field];
        if (typeof column === 'number') issue(['columns', field], `a position (${column}) needs data.header: false; with a header line, name the column as the header does`);
      }
      return;
    }
    if (data.format === 'jsonl' || data.format === 'parquet') {
      issue(['header'], `data.header false applies to CSV and TSV input only (data.format is ${data.format}, whose fields are named)`);
    }
    // Without a header there are no names to default to: text and summary must be placed too.
    for (const field of fields) {
      const column = data.columns[field];
      const needed = field === 'text' || field === 'summary' || (field === 'category' && data.category !== null);
      if (typeof column === 'string' || (column === undefined && needed)) {
        const why = column !== undefined ? '' : field === 'category' ? '; data.category filters on it' : `; ${field} has no default without a header`;
        issue(['columns', field], `with data.header false, name each column by its position (1 = first)${why}`);
      }
    }
  });

export const SplitConfig = z
  .object({
    validationFraction: z.number().gt(0).lt(1).default(0.1),
    seed: z.number().int().default(42),
    /**
     * `review`: each review goes to one side by its id. `product`: every review of a product goes
     * to the same side, so product summaries are judged on products the model never saw.
     */
    splitBy: z.enum(['review', 'product']).default('review'),
  })
  .strict();

export const ModelConfig = z
  .object({
    /** A hub name (`t5-small`) or a local directory that `from_pretrained` loads. */
    nameOrPath: z.string().min(1).default('state/models/tiny-t5'),
    /**
     * `champion`: train from the registered model's current champion (scheduled retraining on new
     * data), or from nameOrPath while there is none; `base`: always from nameOrPath. nameOrPath's
     * architecture is what `tuneflow plan` sizes, so keep it the champion's.
     */
    startFrom: z.enum(['base', 'champion']).default('base'),
    sourcePrefix: z.string().default('summarize: '),
    maxSourceLength: positiveInt.default(512),
    maxTargetLength: positiveInt.default(64),
  })
  .strict();

/**
 * Decoding controls shared by everything that generates (evaluate with its zero-shot baseline and
 * the evaluations during training, summarize, `summarize --text`, the served model), so a headline
 * is scored as it is served. The defaults change nothing: they are transformers' own.
 */
export const GenerationConfig = z
  .object({
    /**
     * No run of this many tokens appears twice in one output; 0: off. 3 by default, the seed
     * recipes' value: the seed's t5-small writes "Great ... Great ...", and a model early in
     * training repeats its most frequent piece (on the demo data "▁", which decodes to nothing).
     */
    noRepeatNgramSize: z.number().int().nonnegative().default(3),
    /** Above 1, a token the output already holds is that much less likely again; 1: off. */
    repetitionPenalty: z.number().positive().default(1),
    /** Beam search only (numBeams > 1): above 1 favours longer outputs, below 1 shorter; 1: neutral. */
    lengthPenalty: z.number().default(1),
  })
  .strict();

export const EvaluateConfig = z
  .object({
    /** Validation rows scored; null scores them all. More than the validation split holds fails the split step. */
    maxSamples: positiveInt.nullable().default(null),
    numBeams: positiveInt.default(1),
    maxNewTokens: positiveInt.default(32),
    batchSize: positiveInt.default(32),
    /**
     * Also score model.nameOrPath without fine-tuning (the seed's "no fine-tuning" row), beside the
     * lead-N and most-common-headline baselines: one more generation pass over the rows. Skipped
     * anyway, saying so, for a base model with random weights (tuneflow_ml.tiny_model's).
     */
    zeroShot: z.boolean().default(true),
  })
  .strict();

export const RegisterConfig = z
  .object({
    /** Registered model name in MLflow. */
    modelName: z.string().min(1).regex(/^[\w.-]+$/, 'letters, digits, "_", "-" and "." only').default('tuneflow-review-headlines'),
    /**
     * The new version takes the `champion` alias when its ROUGE-L >= the champion's + minDelta
     * (both scored on the same validation set); otherwise it becomes `challenger`. The default 0
     * promotes on a tie: the newer model has seen the newer data.
     */
    minDelta: z.number().nonnegative().default(0),
    /**
     * A person decides (signal `promote` or `reject`) when |new - champion| ROUGE-L <= reviewBand;
     * 0 never waits.
     */
    reviewBand: z.number().nonnegative().default(0),
    /** How long the pipeline waits for that signal before taking reviewDefault. */
    reviewTimeoutSeconds: positiveInt.default(86_400),
    /** The decision of a borderline case nobody decided in time. */
    reviewDefault: z.enum(['promote', 'reject']).default('reject'),
    /**
     * The quality floor: a version whose ROUGE-L does not beat this baseline (scored by evaluate on
     * the same rows) is registered `rejected`, with the reason, and never becomes champion, whatever
     * the champion scores. `best`: the strongest of the baselines scored; `lead`: the review's first
     * N words (N chosen on the training split); `common`: the most common training headline for
     * every review; `zeroShot`: model.nameOrPath without fine-tuning (the preflight refuses it where
     * zero-shot is not scored); `none`: no floor.
     */
    mustBeat: z.enum(['best', 'lead', 'common', 'zeroShot', 'none']).default('best'),
  })
  .strict();

export const SummarizeConfig = z
  .object({
    /** Products with at least this many cleaned reviews get a product summary (the seed uses 10). */
    minReviews: positiveInt.default(10),
    numBeams: positiveInt.default(4),
    minNewTokens: z.number().int().nonnegative().default(8),
    maxNewTokens: positiveInt.default(48),
    /**
     * Most inputs per `generate` call (inputs are sorted by length first, so batches carry little
     * padding). A batch that runs out of GPU memory is split and retried, so this is a ceiling.
     */
    batchSize: positiveInt.default(32),
    /** Also summarize every review on its own (besides one summary per product). */
    perReview: z.boolean().default(true),
    /** Products (or reviews) per shard: the unit a retried attempt does not redo once finished. */
    shardSize: positiveInt.default(1000),
    /** Inputs summarized one at a time after the bulk run to measure latency p50/p95 (0: none). */
    latencySamples: z.number().int().nonnegative().default(16),
    /**
     * What generates: `ctranslate2` (the model converted once per model directory and kept beside
     * it; the same summaries as transformers in float32, several times faster on a CPU) or
     * `transformers` (`model.generate`). A model CTranslate2 cannot convert, or settings it would
     * decode differently (repetitionPenalty with beam search), use transformers, with a warning.
     */
    engine: z.enum(['ctranslate2', 'transformers']).default('ctranslate2'),
    /**
     * CTranslate2's arithmetic. `auto`: float32 on a CPU (the summaries transformers gives), bf16 on
     * GPUs that have it, else float16. `int8` (and `int8_float16` on GPUs) is faster and smaller,
     * with summaries that may differ.
     */
    computeType: z.enum(['auto', 'float32', 'float16', 'bfloat16', 'int8', 'int8_float16']).default('auto'),
  })
  .strict()
  .refine((s) => s.minNewTokens <= s.maxNewTokens, {
    message: 'minNewTokens must not exceed maxNewTokens',
    path: ['minNewTokens'],
  })
  .refine((s) => s.engine === 'ctranslate2' || s.computeType === 'auto', {
    message: 'computeType applies to engine ctranslate2; transformers uses float32 on a CPU and bf16 on GPUs that have it (leave computeType auto)',
    path: ['computeType'],
  });

/** The run report written at the end of each pipeline (`<storage.root>/<pipeline id>/report/`). */
export const ReportConfig = z
  .object({
    /**
     * USD per GPU-hour, for the report's estimated tuning cost (GPU-hours x this). The default is
     * roughly an on-demand 80 GB data-centre GPU; set what your hosts cost. A run trained on the
     * CPU used no GPU-hours.
     */
    gpuHourPrice: z.number().nonnegative().default(4),
    /** Validation reviews shown with their reference headline and the models' summaries. */
    samples: positiveInt.default(8),
  })
  .strict();

/** `s3://bucket/prefix`: a bucket name as S3 allows it, then an optional key prefix. */
const S3_ROOT = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\0]*)?$/;

export const StorageConfig = z
  .object({
    /**
     * Artifacts live under `<root>/<pipeline id>/<step>/`. A folder (shared storage when workers
     * span hosts), or `s3://bucket/prefix` on any S3-compatible store: endpoint, region and
     * credentials come from the worker's standard AWS environment, never from this config.
     */
    root: z
      .string()
      .min(1)
      .refine((root) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(root) || S3_ROOT.test(root), {
        message: 'expected a folder or s3://bucket/prefix (a bucket name of 3-63 lower-case letters, digits, "." and "-"); no other scheme is supported',
      })
      .default('state/runs'),
    /**
     * With an s3:// root, each worker's local copy of what it reads and writes (relative to the
     * repository; TUNEFLOW_CACHE_DIR on a worker overrides it, so workers of one host can keep
     * their own). Unused with a folder root.
     */
    cacheDir: z.string().min(1).default('state/cache'),
    /**
     * An upload (a checkpoint, a step's outputs) that moves no byte for this long fails the step,
     * retryable, naming the object, instead of hanging.
     */
    uploadStallSeconds: positiveInt.default(300),
  })
  .strict();

export const MlflowConfig = z
  .object({
    /** The tracking server's REST root: every step talks to it over HTTP(S). */
    trackingUri: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL of the MLflow tracking server, like http://127.0.0.1:5000' })
      .default('http://127.0.0.1:5000'),
    experiment: z.string().min(1).default('tuneflow'),
    /**
     * How long the preflight waits for MLflow to answer before the run fails naming the URI (a
     * server still starting is waited for; a wrong URI costs this long). Later steps ride out an
     * MLflow outage without this limit.
     */
    // At most 8 minutes: the preflight activity's start-to-close timeout is 10 (workflows/activity-options.ts).
    preflightRetrySeconds: positiveInt.max(480).default(60),
  })
  .strict();

export const PipelineConfig = z
  .object({
    name: z.string().min(1).regex(/^[\w.-]+$/, 'letters, digits, "_", "-" and "." only').default('demo'),
    data: DataConfig.default(DataConfig.parse({})),
    split: SplitConfig.default(SplitConfig.parse({})),
    model: ModelConfig.default(ModelConfig.parse({})),
    train: TrainConfig.default(TrainConfig.parse({})),
    generation: GenerationConfig.default(GenerationConfig.parse({})),
    evaluate: EvaluateConfig.default(EvaluateConfig.parse({})),
    register: RegisterConfig.default(RegisterConfig.parse({})),
    summarize: SummarizeConfig.default(SummarizeConfig.parse({})),
    report: ReportConfig.default(ReportConfig.parse({})),
    storage: StorageConfig.default(StorageConfig.parse({})),
    mlflow: MlflowConfig.default(MlflowConfig.parse({})),
    /**
     * Reuse a finished step (from any pipeline on the same storage.root) whose inputs' content,
     * config and code match, instead of running it again: a scheduled retraining on unchanged data
     * then costs no GPU time. Off unless asked for: a run then always trains (and registers) anew.
     */
    cache: z.boolean().default(false),
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

/** Validates a parsed config object; throws `InvalidConfigError` naming every bad field. */
export function parseConfig(raw: unknown, source = '(inline)'): PipelineConfig {
  const result = PipelineConfig.safeParse(raw ?? {});
  if (!result.success) throw new InvalidConfigError(source, formatConfigIssues(result.error));
  return result.data;
}
