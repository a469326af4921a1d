/**
 * The protocol between the TypeScript activities and the Python steps.
 *
 * `python -m tuneflow_ml.<step> --spec spec.json` writes one JSON object per line to the Unix
 * socket named by TUNEFLOW_EVENTS_SOCKET (the activity listens), never to stdout, which libraries
 * print to.
 * `python/tuneflow_ml/events.py` is the writing side of this file.
 *
 * The generation engine (`python -m tuneflow_ml.engine`, one long-lived process per GPU of a
 * worker, lib/python-step/engine.ts) talks the same events on the same kind of socket, and reads
 * requests from it (EngineRequest, one per line): it says `ready` once started, then answers
 * each request, one at a time, with its progress and logs and one `result` or `error`.
 */
import { z } from 'zod';
import { FailureKind } from '../failures';
import { ShardJob, SummarizeTextSpec } from '../steps/summarize';

export const ProgressEvent = z.object({
  event: z.literal('progress'),
  /** What is counted: optimizer steps while training, examples while generating. */
  unit: z.enum(['steps', 'examples']),
  step: z.number().int().nonnegative(),
  totalSteps: z.number().int().nonnegative(),
  epoch: z.number().nonnegative().nullable(),
  loss: z.number().nullable(),
  samplesPerSec: z.number().nonnegative().nullable(),
  /** Seconds to the end of the step at the current rate. */
  etaSeconds: z.number().nonnegative().nullable().default(null),
});

export const CheckpointEvent = z.object({
  event: z.literal('checkpoint'),
  path: z.string().min(1),
  step: z.number().int().nonnegative(),
});

export const MetricsEvent = z.object({
  event: z.literal('metrics'),
  metrics: z.record(z.string(), z.number()),
  step: z.number().int().nonnegative().nullable(),
});

export const LogEvent = z.object({
  event: z.literal('log'),
  level: z.enum(['info', 'warning']),
  message: z.string(),
});

export const ResultEvent = z.object({
  event: z.literal('result'),
  result: z.record(z.string(), z.unknown()),
});

export const ErrorEvent = z.object({
  event: z.literal('error'),
  kind: FailureKind,
  retryable: z.boolean(),
  message: z.string(),
});

/** The engine is started (its libraries imported) and takes requests. */
export const ReadyEvent = z.object({
  event: z.literal('ready'),
  pid: z.number().int().positive(),
  device: z.string(),
});

/**
 * A process of the step says `joined` when it connects (first, with the attempt's token when the
 * events come over TCP from other nodes) and `left` when it exits by itself: a connection that
 * closes without `left` is a rank that was killed or lost its node.
 */
export const RankEvent = z.object({
  event: z.literal('rank'),
  state: z.enum(['joined', 'left']),
  rank: z.number().int().nonnegative(),
  localRank: z.number().int().nonnegative(),
  /** The node's index in the hostfile (DeepSpeed's CROSS_RANK); 0 on one host. */
  nodeRank: z.number().int().nonnegative(),
  pid: z.number().int().positive(),
  hostname: z.string(),
  token: z.string().nullable(),
});

export const StepEvent = z.discriminatedUnion('event', [
  ProgressEvent,
  CheckpointEvent,
  MetricsEvent,
  LogEvent,
  ResultEvent,
  ErrorEvent,
  ReadyEvent,
  RankEvent,
]);
export type StepEvent = z.infer<typeof StepEvent>;
export type ProgressEvent = z.infer<typeof ProgressEvent>;
export type CheckpointEvent = z.infer<typeof CheckpointEvent>;
export type ReadyEvent = z.infer<typeof ReadyEvent>;
export type RankEvent = z.infer<typeof RankEvent>;

/** What the engine is asked: one shard of bulk summarization, or one text (`tuneflow summarize --text`). */
export const EngineRequest = z.discriminatedUnion('request', [
  z.object({ request: z.literal('summarizeShard'), job: ShardJob }),
  z.object({ request: z.literal('summarizeText'), spec: SummarizeTextSpec }),
]);
export type EngineRequest = z.infer<typeof EngineRequest>;

/**
 * train's checkpoint uploads to an s3:// storage.root (lib/storage/checkpoints.ts), in its
 * heartbeat: what the stored pointer names and how far it lags behind training.
 */
export const CheckpointUploadStatus = z.object({
  /** The step of the checkpoint the stored pointer names; null before the first is stored. */
  storedStep: z.number().int().nonnegative().nullable(),
  uploadingStep: z.number().int().nonnegative().nullable(),
  /** Steps between the newest local checkpoint and the stored one: what a lost host would cost beyond the usual. */
  lagSteps: z.number().int().nonnegative(),
  bytesSent: z.number().int().nonnegative(),
  bytesTotal: z.number().int().nonnegative(),
});
export type CheckpointUploadStatus = z.infer<typeof CheckpointUploadStatus>;

/**
 * Heartbeat details of an activity: a Python step sends its last progress and checkpoint events
 * (lib/python-step/runner.ts: what the Temporal UI shows and what a retried train resumes
 * from); clean sends the rows read (and its shard). Readable by a person in the UI.
 */
export const StepHeartbeat = z.object({
  step: z.string(),
  progress: ProgressEvent.nullable().optional(),
  checkpoint: CheckpointEvent.nullable().optional(),
  rowsRead: z.number().int().nonnegative().optional(),
  upload: CheckpointUploadStatus.nullable().optional(),
  /** Files moved between this worker's cache and the object store before or after the step (lib/storage/boundary.ts). */
  transfer: z.object({ direction: z.enum(['up', 'down']), files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }).optional(),
});
export type StepHeartbeat = z.infer<typeof StepHeartbeat>;
