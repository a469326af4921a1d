/**
 * bench/clean: tuneflow's data preparation against what the seed does and against the raw read
 * floor, on the same generated Amazon-format TSV (docs/benchmarks.md, section "clean").
 *
 *   npm run bench:clean -- [--rows 1000000] [--rss-rows 4000000] [--dir state/bench/clean]
 *
 * (a) tuneflow clean + split (bench/clean/tuneflow.ts, its own process: its peak RSS is read
 *     from /proc/self/status);
 * (b) the seed: pandas `read_csv(sep='\t')`, then the seed's `clean_text` row by row
 *     (bench/clean/seed_baseline.py, in .venv);
 * (c) the read floor: DuckDB counting the file's rows.
 * Prints rows/s and MB/s of each, the ratios a/b and a/c, and the peak RSS of (a) at --rows and
 * at --rss-rows. Targets (issue 3): a/b >= 10, a/c >= 0.5, peak RSS flat from 1M to 4M rows.
 * With --repeat N each of (a), (b), (c) runs N times, interleaved, and the fastest run counts (the
 * machine may be shared); the peak RSS is the largest seen. Prints the load average too.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../../lib/artifacts';
import { generateReviews, reviewsToTsv } from '../../scripts/generate-reviews';

const REPO = resolve(__dirname, '..', '..');
const BATCH_ROWS = 100_000;

/**
 * The demo generator's reviews (with its few percent of defects), written in batches of 100k
 * so memory stays small; each batch has its own seed, so the file is the same on every run.
 */
async function generate(path: string, rows: number): Promise<void> {
  if (existsSync(path)) return;
  mkdirSync(join(path, '..'), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  const out = createWriteStream(temp);
  out.write(reviewsToTsv([]));
  for (let done = 0, batch = 0; done < rows; batch += 1) {
    const count = Math.min(BATCH_ROWS, rows - done);
    const text = reviewsToTsv(generateReviews({ rows: count, products: 200, seed: 1000 + batch }));
    if (!out.write(text.slice(text.indexOf('\n') + 1))) await once(out, 'drain');
    done += count;
  }
  out.end();
  await once(out, 'finish');
  renameSync(temp, path);
}

function runJson(command: string, args: string[]): { result: Record<string, unknown>; wallSeconds: number } {
  const started = performance.now();
  const child = spawnSync(command, args, { cwd: REPO, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const wallSeconds = (performance.now() - started) / 1000;
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${child.status}):\n${child.stderr}`);
  const lastLine = child.stdout.trimEnd().split('\n').at(-1)!;
  return { result: JSON.parse(lastLine), wallSeconds };
}

function tuneflow(input: string, root: string) {
  rmSync(root, { recursive: true, force: true });
  const run = runJson(process.execPath, ['--import', 'tsx', join(REPO, 'bench/clean/tuneflow.ts'), input, root]);
  rmSync(root, { recursive: true, force: true });
  return run as { result: { seconds: number; peakRssMiB: number; counts: { read: number; kept: number } }; wallSeconds: number };
}

async function duckdbCount(input: string): Promise<{ rows: number; seconds: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const started = performance.now();
    // No quoting (the Amazon TSV does not quote); short and long rows padded or skipped, not fatal.
    const reader = await connection.runAndReadAll(
      `SELECT count(*) AS n FROM read_csv(${sqlString(input)}, delim = '\t', header = true, quote = '', escape = '',
         all_varchar = true, null_padding = true, strict_mode = false, ignore_errors = true)`,
    );
    return { rows: Number(reader.getRowObjectsJS()[0].n), seconds: (performance.now() - started) / 1000 };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const positiveInteger = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
};

async function main(): Promise<void> {
  const options = new Command('bench:clean')
    .option('--rows <n>', 'rows of the file all three run on', positiveInteger, 1_000_000)
    .option('--rss-rows <n>', 'rows of the second file, (a) only, for peak RSS (0 skips it)', positiveInteger, 4_000_000)
    .option('--dir <path>', 'where the generated files are kept between runs', 'state/bench/clean')
    .option('--repeat <n>', 'runs of each, the fastest counts', positiveInteger, 1)
    .parse()
    .opts<{ rows: number; rssRows: number; dir: string; repeat: number }>();
  const dir = resolve(REPO, options.dir);
  const input = join(dir, `reviews-${options.rows}.tsv`);
  await generate(input, options.rows);
  const megabytes = statSync(input).size / 1e6;
  console.log(`input: ${input} (${options.rows} rows, ${megabytes.toFixed(1)} MB); cpus: ${cpus().length}`);

  type SeedRun = { result: { seconds: number; read: number; kept: number }; wallSeconds: number };
  const runs: { a: ReturnType<typeof tuneflow>[]; b: SeedRun[]; c: Awaited<ReturnType<typeof duckdbCount>>[] } = { a: [], b: [], c: [] };
  for (let round = 0; round < Math.max(1, options.repeat); round += 1) {
    runs.a.push(tuneflow(input, join(dir, 'runs')));
    runs.b.push(runJson(join(REPO, '.venv/bin/python'), [join(REPO, 'bench/clean/seed_baseline.py'), input]) as SeedRun);
    runs.c.push(await duckdbCount(input));
  }
  const fastest = <T>(all: T[], seconds: (run: T) => number) => all.reduce((best, run) => (seconds(run) < seconds(best) ? run : best));
  const a = fastest(runs.a, (run) => run.result.seconds);
  const b = fastest(runs.b, (run) => run.result.seconds);
  const c = fastest(runs.c, (run) => run.seconds);
  const peakRssMiB = Math.max(...runs.a.map((run) => run.result.peakRssMiB));
  console.log(
    `runs: ${runs.a.length} of each; (a) ${runs.a.map((run) => run.result.seconds.toFixed(2)).join(', ')} s; (b) ${runs.b.map((run) => run.result.seconds.toFixed(2)).join(', ')} s; ` +
      `(c) ${runs.c.map((run) => run.seconds.toFixed(2)).join(', ')} s; load average ${loadavg().map((load) => load.toFixed(2)).join(' ')}`,
  );

  const line = (name: string, seconds: number, wall: number, extra: string) =>
    console.log(
      `${name.padEnd(34)} ${seconds.toFixed(2).padStart(7)} s  ${Math.round(options.rows / seconds).toLocaleString('en-US').padStart(10)} rows/s  ${(megabytes / seconds).toFixed(1).padStart(7)} MB/s  (wall ${wall.toFixed(2)} s) ${extra}`,
    );
  line('(a) tuneflow clean + split', a.result.seconds, a.wallSeconds, `kept ${a.result.counts.kept}, peak RSS ${peakRssMiB.toFixed(0)} MiB`);
  line('(b) seed: pandas + clean_text', b.result.seconds, b.wallSeconds, `kept ${b.result.kept} of ${b.result.read} parsed`);
  line('(c) DuckDB count(*)', c.seconds, c.seconds, `${c.rows} rows`);
  console.log(`a/b = ${(b.result.seconds / a.result.seconds).toFixed(2)}x faster   (target >= 10)`);
  console.log(`a/c = ${(c.seconds / a.result.seconds).toFixed(3)} of the read floor's speed   (target >= 0.5)`);

  if (options.rssRows > 0) {
    const bigInput = join(dir, `reviews-${options.rssRows}.tsv`);
    await generate(bigInput, options.rssRows);
    const big = tuneflow(bigInput, join(dir, 'runs'));
    const bigMegabytes = statSync(bigInput).size / 1e6;
    console.log(
      `peak RSS of (a): ${peakRssMiB.toFixed(0)} MiB at ${options.rows} rows, ${big.result.peakRssMiB.toFixed(0)} MiB at ${options.rssRows} rows ` +
        `(${big.result.seconds.toFixed(2)} s, ${Math.round(options.rssRows / big.result.seconds).toLocaleString('en-US')} rows/s, ${(bigMegabytes / big.result.seconds).toFixed(1)} MB/s)`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
