/**
 * The running step's progress as text: a plain line for logs, a bar for a terminal
 * (`run --wait`, `status`).
 */
import type { CheckpointEvent, CheckpointUploadStatus, ProgressEvent, StepHeartbeat } from '../../lib/python-step/protocol';
import { formatBytes } from '../../lib/byte-size';
import type { ShardProgress } from '../status/bulk';
import type { StepProgress } from '../status/pipeline';

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The checkpoint uploads of an s3:// root: `stored@100`, or while one is behind
 * `stored@50 (lag 50 steps, uploading checkpoint-100 42% of 1.2 GiB)`: what a lost host would cost.
 */
function uploadText(upload: CheckpointUploadStatus | null | undefined): string | null {
  if (!upload) return null;
  const sending =
    upload.uploadingStep !== null
      ? `uploading checkpoint-${upload.uploadingStep} ${Math.floor((100 * upload.bytesSent) / Math.max(1, upload.bytesTotal))}% of ${formatBytes(upload.bytesTotal)}`
      : null;
  const behind = [upload.lagSteps > 0 ? `lag ${upload.lagSteps} steps` : null, sending].filter(Boolean).join(', ');
  return `stored@${upload.storedStep ?? 'none'}${behind ? ` (${behind})` : ''}`;
}

/** The figures after the count: epoch, loss, throughput, ETA, last checkpoint and its upload. */
function progressFigures(p: ProgressEvent, checkpoint: CheckpointEvent | null | undefined, upload: CheckpointUploadStatus | null | undefined): string {
  return [
    p.epoch !== null ? `epoch ${p.epoch.toFixed(2)}` : null,
    p.loss !== null ? `loss ${p.loss.toFixed(4)}` : null,
    p.samplesPerSec !== null ? `${p.samplesPerSec.toFixed(1)} samples/s` : null,
    p.etaSeconds !== null ? `ETA ${formatDuration(p.etaSeconds)}` : null,
    checkpoint ? `checkpoint@${checkpoint.step}` : null,
    uploadText(upload),
  ]
    .filter((f): f is string => f !== null)
    .join(' ');
}

function countLabel(p: ProgressEvent): string {
  return p.unit === 'steps' ? 'step' : 'example';
}

function shardsText(shards: ShardProgress): string {
  return `shards ${shards.done}/${shards.total} (products ${shards.products.done}/${shards.products.total}, reviews ${shards.reviews.done}/${shards.reviews.total})`;
}

/** Files moved between the worker's cache and the object store before or after the step. */
function transferText(transfer: StepHeartbeat['transfer']): string | null {
  if (!transfer) return null;
  return `${transfer.direction === 'down' ? 'fetched' : 'stored'} ${transfer.files} file(s), ${formatBytes(transfer.bytes)}`;
}

/** The running activity's own count and figures: `step 35/234 epoch 0.30 loss 2.1000 ...`. */
function heartbeatText(heartbeat: StepHeartbeat | null): string | null {
  const p = heartbeat?.progress;
  if (p) return [`${countLabel(p)} ${p.step}/${p.totalSteps}`, progressFigures(p, heartbeat.checkpoint, heartbeat.upload)].filter(Boolean).join(' ');
  if (heartbeat?.rowsRead !== undefined) return `${heartbeat.rowsRead} rows read`;
  return transferText(heartbeat?.transfer);
}

/** One log line per change: `[train] running step 35/234 epoch 0.30 loss 2.1000 ...`. */
export function progressLine({ step, heartbeat, shards }: Omit<StepProgress, 'awaitingReview'>): string {
  return [`[${step}] running`, shards ? shardsText(shards) : null, heartbeatText(heartbeat)].filter(Boolean).join(' ');
}

/**
 * A terminal progress bar over the step: summarize's finished shards, or the running activity's
 * count (training steps): `[train] [####......] step 35/234  15% epoch 0.30 loss 2.1000 ... ETA 2m03s`.
 */
export function progressBar(progress: Omit<StepProgress, 'awaitingReview'>, width = 30): string {
  const { step, heartbeat, shards } = progress;
  const p = heartbeat?.progress;
  const measure =
    shards && shards.total > 0
      ? { done: shards.done, total: shards.total, count: shardsText(shards), rest: heartbeatText(heartbeat) }
      : p && p.totalSteps > 0
        ? { done: p.step, total: p.totalSteps, count: `${countLabel(p)} ${p.step}/${p.totalSteps}`, rest: progressFigures(p, heartbeat?.checkpoint, heartbeat?.upload) }
        : null;
  if (!measure) return progressLine(progress);
  const fraction = Math.min(1, measure.done / measure.total);
  const filled = Math.round(fraction * width);
  const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  return [`[${step}] [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, measure.count, percent, measure.rest].filter(Boolean).join(' ');
}
