/**
 * Draws progress while `run --wait` polls: on a terminal one bar per step, redrawn in place
 * (a finished step's bar stays above the next); in a log or a pipe, a plain line per change.
 */
import type { PipelineStep } from '../../lib/pipeline';
import type { StepProgress } from '../status/pipeline';
import { progressBar, progressLine } from './progress';

export class ProgressPrinter {
  private lastLine = '';
  private lastStep: PipelineStep | null = null;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  show(progress: StepProgress): void {
    const { step, awaitingReview } = progress;
    const line = awaitingReview
      ? `[${step}] waiting for a person: ${awaitingReview}`
      : this.tty
        ? progressBar(progress)
        : progressLine(progress);
    if (line === this.lastLine) return;
    if (this.tty) {
      // A new step starts a new line; the same step redraws its bar (cut to the terminal's width).
      if (this.lastStep !== null && step !== this.lastStep) this.out.write('\n');
      this.out.write(`\r\x1b[2K${line.slice(0, Math.max(20, (this.out.columns ?? 120) - 1))}`);
    } else {
      this.out.write(`${line}\n`);
    }
    this.lastLine = line;
    this.lastStep = step;
  }

  /** Ends the bar's line, so what follows starts on its own. */
  finish(): void {
    if (this.tty && this.lastStep !== null) this.out.write('\n');
  }
}
