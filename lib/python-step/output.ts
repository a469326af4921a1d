/** What a Python process prints: echoed to this process's stderr (unless TUNEFLOW_QUIET_PYTHON=1), its last lines kept for the failure message. */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

const OUTPUT_TAIL_LINES = 40;

/** Reads `stream` line by line into `tail` (its last 40 lines), each also to `onLine`; resolves when it closes. */
export function collectOutput(stream: Readable | null, label: string, tail: string[], onLine?: (line: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  const lines = createInterface({ input: stream });
  lines.on('line', (line) => {
    onLine?.(line);
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    if (process.env.TUNEFLOW_QUIET_PYTHON !== '1') process.stderr.write(`[${label}] ${line}\n`);
  });
  return new Promise<void>((resolve) => lines.on('close', resolve));
}
