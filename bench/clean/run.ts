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

/**
 * DuckDB's reader as (c) reads the file, but here it parses the fields the clean step uses; the
 * rows with a wrong column count are skipped (tuneflow quarantines them).
 */
const readFields = (input: string) =>
  `SELECT review_id, product_id, review_headline, review_body, star_rating FROM read_csv(${sqlString(input)}, delim = '\t', header = true,
     quote = '', escape = '', all_varchar = true, strict_mode = false, ignore_errors = true)`;

/** Python's whitespace but the plain space (the default mode makes every run one space), as an RE2 class body. */
const OTHER_WHITESPACE_RE2 = '\\t-\\r\\x{1c}-\\x{1f}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}';

/**
 * The `default` mode's main rules as DuckDB SQL: markup removed, whitespace runs made one space,
 * the word cap at a sentence end (lib/cleaning.ts `cleanTextDefault`). Entities are not decoded,
 * and each regex runs only on the rows that need it: a lower bound on what the mode costs in SQL.
 */
const SQL_CLEANING_MACROS = [
  `CREATE MACRO strip_markup(t) AS CASE WHEN contains(t, '<') OR contains(t, '[[')
     THEN regexp_replace(t, '<[A-Za-z/!][^<>]*>|\\[\\[[^\\]]+\\]\\]', ' ', 'g') ELSE t END`,
  `CREATE MACRO one_space(t) AS CASE WHEN regexp_matches(t, '[${OTHER_WHITESPACE_RE2}]|  |^ | $')
     THEN trim(regexp_replace(t, '[ ${OTHER_WHITESPACE_RE2}]+', ' ', 'g'), ' ') ELSE t END`,
  // Under 2n bytes a text of single-spaced words has fewer than n spaces: no count needed.
  `CREATE MACRO cap_words(t, n) AS CASE WHEN strlen(t) < 2 * n OR strlen(t) - strlen(replace(t, ' ', '')) < n THEN t
     ELSE array_to_string(string_split(t, ' ')[1:coalesce(list_max(list_transform(string_split(t, ' ')[1:n],
       (word, i) -> CASE WHEN suffix(word, '.') OR suffix(word, '?') OR suffix(word, '!') THEN i END)), n)], ' ') END`,
];

/**
 * Two floors under (a), each a DuckDB statement on the same file with DuckDB's threads:
 * (d) the fields read and written to Parquet, nothing else (what any clean step that writes
 * Parquet costs at least); (e) the same with the default mode's rules in SQL
 * (SQL_CLEANING_MACROS), empty rows dropped: a lower bound for a clean step written in SQL
 * (no entities, quarantine file, dedupe or split).
 */
async function duckdbFloors(input: string, dir: string): Promise<{ writeSeconds: number; sqlCleanSeconds: number; sqlKept: number }> {
  const instance = await DuckDBInstance.create(':memory:', { preserve_insertion_order: 'false' });
  const connection = await instance.connect();
  const output = join(dir, 'floor.parquet');
  const timed = async (sql: string) => {
    const started = performance.now();
    await connection.run(sql);
    return (performance.now() - started) / 1000;
  };
  try {
    for (const macro of SQL_CLEANING_MACROS) await connection.run(macro);
    const writeSeconds = await timed(`COPY (${readFields(input)}) TO ${sqlString(output)} (FORMAT parquet, COMPRESSION zstd)`);
    // One rule per nesting level: a macro's argument is substituted, so nesting the calls would
    // evaluate the inner rules again for each use of `t`.
    const sqlCleanSeconds = await timed(
      `COPY (SELECT * FROM (
               SELECT review_id, product_id, cap_words(text, 100) AS text, cap_words(summary, 20) AS summary, star_rating FROM (
                 SELECT review_id, product_id, one_space(text) AS text, one_space(summary) AS summary, star_rating FROM (
                   SELECT review_id, product_id, strip_markup(review_body) AS text, strip_markup(review_headline) AS summary, star_rating
                   FROM (${readFields(input)}))))
             WHERE text <> '' AND summary <> '') TO ${sqlString(output)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const kept = await connection.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(output)})`);
    return { writeSeconds, sqlCleanSeconds, sqlKept: Number(kept.getRowObjectsJS()[0].n) };
  } finally {
    connection.closeSync();
    instance.closeSync();
    rmSync(output, { force: true });
  }
}

const positiveInteger = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
};

const positiveIntegers = (value: string) => value.split(',').map(positiveInteger);

async function main(): Promise<void> {
  const options = new Command('bench:clean')
    .option('--rows <n>', 'rows of the file all three run on', positiveInteger, 1_000_000)
    .option('--rss-rows <n,...>', 'rows of further files, (a) only, for peak RSS (0 skips them)', positiveIntegers, [4_000_000])
    .option('--dir <path>', 'where the generated files are kept between runs', 'state/bench/clean')
    .option('--repeat <n>', 'runs of each, the fastest counts', positiveInteger, 1)
    .parse()
    .opts<{ rows: number; rssRows: number[]; dir: string; repeat: number }>();
  const dir = resolve(REPO, options.dir);
  const input = join(dir, `reviews-${options.rows}.tsv`);
  await generate(input, options.rows);
  const megabytes = statSync(input).size / 1e6;
  console.log(`input: ${input} (${options.rows} rows, ${megabytes.toFixed(1)} MB); cpus: ${cpus().length}`);

  type SeedRun = { result: { seconds: number; read: number; kept: number }; wallSeconds: number };
  type Floors = Awaited<ReturnType<typeof duckdbFloors>>;
  const runs: { a: ReturnType<typeof tuneflow>[]; b: SeedRun[]; c: Awaited<ReturnType<typeof duckdbCount>>[]; floors: Floors[] } = { a: [], b: [], c: [], floors: [] };
  for (let round = 0; round < Math.max(1, options.repeat); round += 1) {
    runs.a.push(tuneflow(input, join(dir, 'runs')));
    runs.b.push(runJson(join(REPO, '.venv/bin/python'), [join(REPO, 'bench/clean/seed_baseline.py'), input]) as SeedRun);
    runs.c.push(await duckdbCount(input));
    runs.floors.push(await duckdbFloors(input, dir));
  }
  const fastest = <T>(all: T[], seconds: (run: T) => number) => all.reduce((best, run) => (seconds(run) < seconds(best) ? run : best));
  const a = fastest(runs.a, (run) => run.result.seconds);
  const b = fastest(runs.b, (run) => run.result.seconds);
  const c = fastest(runs.c, (run) => run.seconds);
  const d = fastest(runs.floors, (run) => run.writeSeconds);
  const e = fastest(runs.floors, (run) => run.sqlCleanSeconds);
  const peakRssMiB = Math.max(...runs.a.map((run) => run.result.peakRssMiB));
  console.log(
    `runs: ${runs.a.length} of each; (a) ${runs.a.map((run) => run.result.seconds.toFixed(2)).join(', ')} s; (b) ${runs.b.map((run) => run.result.seconds.toFixed(2)).join(', ')} s; ` +
      `(c) ${runs.c.map((run) => run.seconds.toFixed(2)).join(', ')} s; (d) ${runs.floors.map((run) => run.writeSeconds.toFixed(2)).join(', ')} s; ` +
      `(e) ${runs.floors.map((run) => run.sqlCleanSeconds.toFixed(2)).join(', ')} s; load average ${loadavg().map((load) => load.toFixed(2)).join(' ')}`,
  );

  const line = (name: string, seconds: number, wall: number, extra: string) =>
    console.log(
      `${name.padEnd(34)} ${seconds.toFixed(2).padStart(7)} s  ${Math.round(options.rows / seconds).toLocaleString('en-US').padStart(10)} rows/s  ${(megabytes / seconds).toFixed(1).padStart(7)} MB/s  (wall ${wall.toFixed(2)} s) ${extra}`,
    );
  line('(a) tuneflow clean + split', a.result.seconds, a.wallSeconds, `kept ${a.result.counts.kept}, peak RSS ${peakRssMiB.toFixed(0)} MiB`);
  line('(b) seed: pandas + clean_text', b.result.seconds, b.wallSeconds, `kept ${b.result.kept} of ${b.result.read} parsed`);
  line('(c) DuckDB count(*)', c.seconds, c.seconds, `${c.rows} rows`);
  line('(d) floor: DuckDB read -> Parquet', d.writeSeconds, d.writeSeconds, 'no cleaning');
  line('(e) floor: default mode in SQL', e.sqlCleanSeconds, e.sqlCleanSeconds, `kept ${e.sqlKept} (lower bound: no entities, quarantine, dedupe, split)`);
  console.log(`a/b = ${(b.result.seconds / a.result.seconds).toFixed(2)}x faster   (target >= 10)`);
  console.log(`a/c = ${(c.seconds / a.result.seconds).toFixed(3)} of the read floor's speed   (target >= 0.5)`);
  console.log(`floors: d/c = ${(c.seconds / d.writeSeconds).toFixed(3)}, e/c = ${(c.seconds / e.sqlCleanSeconds).toFixed(3)}; e/b = ${(b.result.seconds / e.sqlCleanSeconds).toFixed(2)}x`);

  console.log(`peak RSS of (a): ${peakRssMiB.toFixed(0)} MiB at ${options.rows} rows`);
  for (const rows of options.rssRows.filter((count) => count > 0)) {
    const bigInput = join(dir, `reviews-${rows}.tsv`);
    await generate(bigInput, rows);
    const big = tuneflow(bigInput, join(dir, 'runs'));
    const bigMegabytes = statSync(bigInput).size / 1e6;
    console.log(
      `peak RSS of (a): ${big.result.peakRssMiB.toFixed(0)} MiB at ${rows} rows ` +
        `(${bigMegabytes.toFixed(1)} MB; ${big.result.seconds.toFixed(2)} s, ${Math.round(rows / big.result.seconds).toLocaleString('en-US')} rows/s, ${(bigMegabytes / big.result.seconds).toFixed(1)} MB/s)`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
