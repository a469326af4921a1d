/**
 * Baseline (a) of bench/clean/run.ts, run as its own process so that its peak RSS is its own:
 * tuneflow's clean then split on one file, default config otherwise. Prints one JSON line.
 *
 *   node --import tsx bench/clean/tuneflow.ts <input> <storage root>
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { clean } from '../../activities/clean';
import { split } from '../../activities/split';
import { parseConfig } from '../../lib/config';

async function main(): Promise<void> {
  const [input, root] = process.argv.slice(2);
  const config = parseConfig({ name: 'bench-clean', data: { input }, storage: { root } });
  const started = performance.now();
  const cleaned = await clean({ pipelineId: 'bench', config });
  const cleanDone = performance.now();
  const divided = await split({ pipelineId: 'bench', config, cleanedPath: cleaned.cleanedPath });
  const finished = performance.now();
  // VmHWM: this process's peak resident set, DuckDB's native memory included.
  const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  console.log(
    JSON.stringify({
      counts: cleaned.counts,
      trainRows: divided.trainRows,
      validationRows: divided.validationRows,
      cleanSeconds: (cleanDone - started) / 1000,
      splitSeconds: (finished - cleanDone) / 1000,
      seconds: (finished - started) / 1000,
      peakRssMiB: peakKiB / 1024,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
