/**
 * An upload that moves no byte for storage.uploadStallSeconds fails loudly (UploadStalled,
 * retryable) instead of hanging: its signal aborts the requests in flight, and `failure` says
 * what stalled and for how long.
 */
import { UploadStalled } from '../failures';

export class UploadWatch {
  private readonly controller = new AbortController();
  private lastProgress = Date.now();
  private active = 0;
  private readonly timer: NodeJS.Timeout;
  failure: UploadStalled | null = null;

  constructor(
    private readonly stallSeconds: number,
    /** What is being uploaded, for the failure: `checkpoint-40 to s3://...`. */
    private readonly describe: () => string,
  ) {
    this.timer = setInterval(() => this.check(), Math.min(1_000, (stallSeconds * 1000) / 4));
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Runs one upload under the watch; a stall ends it with UploadStalled. */
  async run<T>(upload: () => Promise<T>): Promise<T> {
    if (this.active++ === 0) this.lastProgress = Date.now();
    try {
      const result = await upload();
      this.progressed();
      return result;
    } catch (error) {
      throw this.failure ?? error;
    } finally {
      this.active--;
    }
  }

  progressed(): void {
    this.lastProgress = Date.now();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.active === 0 || this.failure || Date.now() - this.lastProgress < this.stallSeconds * 1000) return;
    this.failure = new UploadStalled(
      `the upload of ${this.describe()} moved no byte for ${this.stallSeconds} s (storage.uploadStallSeconds): the object store ` +
        'stopped answering or the network to it is down. The step is retried; check the store (AWS_ENDPOINT_URL) if it persists.',
    );
    this.controller.abort(this.failure);
  }
}
