/** Progress output of `tuneflow run --wait` and `status`: a bar on a terminal, plain lines in a log. */
import { ProgressPrinter } from '../../client/render/printer';
import { progressBar, progressLine } from '../../client/render/progress';
import type { ShardProgress } from '../../client/status/bulk';
import type { StepHeartbeat } from '../../lib/python-step/protocol';

const training: StepHeartbeat = {
  step: 'train',
  progress: { event: 'progress', unit: 'steps', step: 35, totalSteps: 234, epoch: 0.3, loss: 2.1, samplesPerSec: 12.34, etaSeconds: 123 },
  checkpoint: { event: 'checkpoint', path: '/runs/x/train/checkpoint-30', step: 30 },
};
const generating: StepHeartbeat = {
  step: 'summarize',
  progress: { event: 'progress', unit: 'examples', step: 4, totalSteps: 8, epoch: null, loss: null, samplesPerSec: 2, etaSeconds: null },
};
const shards: ShardProgress = { done: 3, total: 5, products: { done: 3, total: 4 }, reviews: { done: 0, total: 1 } };

/** Collects what the printer writes, as a terminal or a pipe would receive it. */
function sink(isTTY: boolean) {
  const written: string[] = [];
  const out = { isTTY, columns: 200, write: (chunk: string) => written.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
  return { out, written };
}

test('a plain line names the step, the count and the figures', () => {
  expect(progressLine({ step: 'train', heartbeat: training, shards: null })).toBe(
    '[train] running step 35/234 epoch 0.30 loss 2.1000 12.3 samples/s ETA 2m03s checkpoint@30',
  );
  expect(progressLine({ step: 'summarize', heartbeat: generating, shards })).toBe(
    '[summarize] running shards 3/5 (products 3/4, reviews 0/1) example 4/8 2.0 samples/s',
  );
  expect(progressLine({ step: 'clean', heartbeat: { step: 'clean', rowsRead: 5000 }, shards: null })).toBe('[clean] running 5000 rows read');
  expect(progressLine({ step: 'split', heartbeat: null, shards: null })).toBe('[split] running');
});

test('on an s3:// root the line says which checkpoint the store holds and how far it lags, and what moved to or from the store', () => {
  const caughtUp: StepHeartbeat = { ...training, upload: { storedStep: 30, uploadingStep: null, lagSteps: 0, bytesSent: 0, bytesTotal: 0 } };
  expect(progressLine({ step: 'train', heartbeat: caughtUp, shards: null })).toBe(
    '[train] running step 35/234 epoch 0.30 loss 2.1000 12.3 samples/s ETA 2m03s checkpoint@30 stored@30',
  );
  const behind: StepHeartbeat = {
    ...training,
    upload: { storedStep: null, uploadingStep: 30, lagSteps: 30, bytesSent: 3 * 2 ** 29, bytesTotal: 13 * 2 ** 30 },
  };
  expect(progressBar({ step: 'train', heartbeat: behind, shards: null }, 10)).toBe(
    '[train] [#.........] step 35/234  14% epoch 0.30 loss 2.1000 12.3 samples/s ETA 2m03s checkpoint@30 stored@none (lag 30 steps, uploading checkpoint-30 11% of 13.0 GiB)',
  );
  expect(progressLine({ step: 'evaluate', heartbeat: { step: 'evaluate', transfer: { direction: 'down', files: 12, bytes: 5 * 2 ** 20 } }, shards: null })).toBe(
    '[evaluate] running fetched 12 file(s), 5.0 MiB',
  );
  expect(progressLine({ step: 'clean', heartbeat: { step: 'clean', transfer: { direction: 'up', files: 1, bytes: 900 } }, shards: null })).toBe(
    '[clean] running stored 1 file(s), 900 B',
  );
});

test('the bar fills with the fraction done: training steps, or summarize shards', () => {
  expect(progressBar({ step: 'train', heartbeat: training, shards: null }, 10)).toBe(
    '[train] [#.........] step 35/234  14% epoch 0.30 loss 2.1000 12.3 samples/s ETA 2m03s checkpoint@30',
  );
  expect(progressBar({ step: 'summarize', heartbeat: generating, shards }, 10)).toBe(
    '[summarize] [######....] shards 3/5 (products 3/4, reviews 0/1)  60% example 4/8 2.0 samples/s',
  );
  // Nothing to measure yet: the plain line.
  expect(progressBar({ step: 'split', heartbeat: null, shards: null })).toBe('[split] running');
});

test('on a terminal the bar is redrawn in place and a new step starts a new line; in a log, one line per change', () => {
  const trainProgress = { step: 'train' as const, heartbeat: training, shards: null, awaitingReview: null };
  const tty = sink(true);
  const printer = new ProgressPrinter(tty.out);
  printer.show(trainProgress);
  printer.show(trainProgress);
  printer.show({ step: 'evaluate', heartbeat: null, shards: null, awaitingReview: null });
  printer.finish();
  expect(tty.written).toEqual([`\r\x1b[2K${progressBar(trainProgress)}`, '\n', '\r\x1b[2K[evaluate] running', '\n']);

  const log = sink(false);
  const plain = new ProgressPrinter(log.out);
  plain.show(trainProgress);
  plain.show(trainProgress);
  plain.show({ step: 'register', heartbeat: null, shards: null, awaitingReview: 'ROUGE-L within the review band' });
  plain.finish();
  expect(log.written).toEqual([`${progressLine(trainProgress)}\n`, '[register] waiting for a person: ROUGE-L within the review band\n']);
});
