/**
 * clean's inputs and rules beyond one Amazon TSV: CSV, JSONL and Parquet with a column mapping,
 * folders and globs of many files, sampling that does not depend on how the rows are sharded,
 * dedupe by review id, minimum lengths, the row equation, and split by product.
 */
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { assertRowsAddUp, clean, cleanShard, mergeClean, planClean } from '../../activities/clean';
import { globToRegExp } from '../../activities/clean/inputs';
import { split } from '../../activities/split';
import { cleanTextDefault, hashFraction } from '../../lib/cleaning';
import { parseConfig } from '../../lib/config';
import { InvalidDataError } from '../../lib/failures';
import type { CleanCounts } from '../../lib/steps';
import { configHash } from '../../lib/artifacts';
import { CleanWorkspace } from '../helpers/clean-workspace';
import { generateReviews, reviewsToTsv } from '../../scripts/generate-reviews';

const workspace = new CleanWorkspace('clean');
const { stepInput, write } = workspace;

async function rows(path: string): Promise<Record<string, unknown>[]> {
  const reader = await workspace.duck.runAndReadAll(`SELECT * FROM read_parquet('${path}') ORDER BY review_id`);
  return reader.getRowObjectsJS();
}

async function ids(path: string): Promise<string[]> {
  return (await rows(path)).map((row) => row.review_id as string);
}

function expectRowsAddUp(counts: CleanCounts): void {
  expect(counts.kept + counts.droppedByRule + counts.quarantined + counts.deduped + counts.sampledOut).toBe(counts.read);
}

// Well-formed generated reviews (the generator's column defects removed), as field objects.
const REVIEWS = generateReviews({ rows: 400, products: 40, seed: 21 })
  .filter((review) => review.fields.length === 15)
  .map(({ fields }) => ({
    id: fields[2],
    product: fields[3],
    category: fields[6],
    rating: Number(fields[7]),
    headline: fields[12],
    body: fields[13],
  }));
const TSV_HEADER = reviewsToTsv([]).trimEnd();
const tsvLine = (review: (typeof REVIEWS)[number]) =>
  ['US', '1', review.id, review.product, '1', 'Title', review.category, String(review.rating), '0', '0', 'N', 'Y', review.headline, review.body, '2015-01-01'].join('\t');
const csvQuote = (value: string) => `"${value.replaceAll('"', '""')}"`;

describe('formats and column mapping', () => {
  const mapping = { text: 'body', summary: 'title', productId: 'asin', reviewId: 'id', category: 'cat', rating: 'stars' };
  let expected: Record<string, unknown>[];

  beforeAll(async () => {
    expected = await rows((await clean(stepInput(write('formats/reviews.tsv', [TSV_HEADER, ...REVIEWS.map(tsvLine)].join('\n') + '\n')))).cleanedPath);
  });

  test('the Amazon TSV is cleaned in default mode by default', () => {
    expect(expected.length).toBeGreaterThan(REVIEWS.length * 0.9);
    const byId = new Map(REVIEWS.map((review) => [review.id, review]));
    for (const row of expected) {
      const review = byId.get(row.review_id as string)!;
      expect(row).toEqual({
        review_id: review.id,
        product_id: review.product,
        text: cleanTextDefault(review.body, 100),
        summary: cleanTextDefault(review.headline, 20),
        star_rating: review.rating,
      });
    }
  });

  test('CSV (gzip), JSONL and Parquet with mapped columns give the same cleaned rows', async () => {
    const csv = [
      'id,asin,cat,stars,title,body',
      ...REVIEWS.map((r) => [r.id, r.product, r.category, String(r.rating), csvQuote(r.headline), csvQuote(r.body)].join(',')),
    ].join('\r\n');
    const jsonl = REVIEWS.map((r) => JSON.stringify({ id: r.id, asin: r.product, cat: r.category, stars: r.rating, title: r.headline, body: r.body })).join('\n');
    const jsonlPath = write('formats/reviews.jsonl', `${jsonl}\n`);
    const parquetPath = join(workspace.dir, 'formats', 'reviews.parquet');
    // stars stays an integer column: clean reads every mapped column as text.
    await workspace.duck.run(`COPY (SELECT * FROM read_json('${jsonlPath}')) TO '${parquetPath}' (FORMAT parquet)`);
    for (const path of [write('formats/reviews.csv.gz', gzipSync(`${csv}\r\n`)), jsonlPath, parquetPath]) {
      const result = await clean(stepInput(path, { data: { columns: mapping } }));
      expect(await rows(result.cleanedPath)).toEqual(expected);
      expectRowsAddUp(result.counts);
    }
  });

  test('a Parquet column whose name holds quotes and a backslash is read by that name', async () => {
    const parquetPath = join(workspace.dir, 'formats', 'odd-names.parquet');
    await workspace.duck.run(
      `COPY (SELECT 'R1' AS review_id, 'Good camera.' AS "review ""body"" \\x", 'Fine' AS "it's ""the"" title") TO '${parquetPath}' (FORMAT parquet)`,
    );
    const result = await clean(stepInput(parquetPath, { data: { columns: { text: 'review "body" \\x', summary: 'it\'s "the" title' } } }));
    expect(await rows(result.cleanedPath)).toEqual([{ review_id: 'R1', product_id: '', text: 'Good camera.', summary: 'Fine', star_rating: null }]);
  });

  test('a mapped column missing from the file names the column and the field', async () => {
    const path = write('formats/unmapped.csv', 'text,summary\nGood.,Fine\n');
    await expect(clean(stepInput(path, { data: { columns: { reviewId: 'id' } } }))).rejects.toThrow(
      /the header lacks column\(s\) id \(reviewId\); found: text, summary/,
    );
  });

  test('a JSONL row with a non-text field is quarantined; the rating must be 1 to 5', async () => {
    const path = write(
      'formats/odd.jsonl',
      [
        JSON.stringify({ review_id: 'A', text: 'Good camera.', summary: 'Good' }),
        JSON.stringify({ review_id: 'B', text: ['list'], summary: 'Bad' }),
        JSON.stringify({ review_id: 'C', text: 'Fine.', summary: 'Fine', star_rating: 9 }),
        '[1, 2]',
      ].join('\n') + '\n',
    );
    const result = await clean(stepInput(path));
    const reasons = readFileSync(result.quarantinePath, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line).reason);
    expect(reasons).toEqual(['field text is not a string or number', 'star_rating "9" is not an integer from 1 to 5', 'not a JSON object']);
    expect(result.counts).toMatchObject({ read: 4, kept: 1, quarantined: 3 });
  });
});

describe('many files: folders and globs', () => {
  const shards = Array.from({ length: 7 }, (_, shard) => REVIEWS.filter((_, i) => i % 7 === shard).reverse());

  beforeAll(() => {
    write('one/all.tsv', [TSV_HEADER, ...REVIEWS.map(tsvLine)].join('\n') + '\n');
    shards.forEach((reviews, shard) => {
      const lines = [TSV_HEADER, ...reviews.map(tsvLine)].join('\n') + '\n';
      // Mixed plain and gzip, some in a sub-folder: all of it is one input.
      write(shard % 2 === 0 ? `seven/part-${shard}.tsv` : `seven/more/part-${shard}.tsv.gz`, shard % 2 === 0 ? lines : gzipSync(lines));
    });
    write('seven/_SUCCESS', '');
  });

  test('the same sample from one file and from the same rows split into 7 files', async () => {
    const sampling = { data: { sampleFraction: 0.3, seed: 9 } };
    const one = await clean(stepInput(join(workspace.dir, 'one', 'all.tsv'), sampling));
    const seven = await clean(stepInput(join(workspace.dir, 'seven'), sampling));
    const oneIds = await ids(one.cleanedPath);
    expect(await ids(seven.cleanedPath)).toEqual(oneIds);
    expect(seven.counts).toEqual(one.counts);
    // Exactly the reviews whose hash is below the fraction, about 30% of them.
    const expected = REVIEWS.filter((review) => hashFraction('sample', 9, review.id) < 0.3).map((review) => review.id);
    expect(oneIds.every((id) => expected.includes(id))).toBe(true);
    expect(one.counts.sampledOut).toBe(REVIEWS.length - expected.length);
    expect(expected.length / REVIEWS.length).toBeGreaterThan(0.2);
    expect(expected.length / REVIEWS.length).toBeLessThan(0.4);
  });

  test('a folder records its files and the ones it skipped in the manifest', async () => {
    const result = await clean(stepInput(join(workspace.dir, 'seven')));
    const manifest = JSON.parse(readFileSync(join(result.cleanedPath, '..', 'manifest.json'), 'utf8'));
    expect(manifest.input.files.map((file: { path: string }) => file.path)).toEqual([
      join(workspace.dir, 'seven', 'more', 'part-1.tsv.gz'),
      join(workspace.dir, 'seven', 'more', 'part-3.tsv.gz'),
      join(workspace.dir, 'seven', 'more', 'part-5.tsv.gz'),
      join(workspace.dir, 'seven', 'part-0.tsv'),
      join(workspace.dir, 'seven', 'part-2.tsv'),
      join(workspace.dir, 'seven', 'part-4.tsv'),
      join(workspace.dir, 'seven', 'part-6.tsv'),
    ]);
    expect(manifest.input.files.reduce((sum: number, file: { rowsRead: number }) => sum + file.rowsRead, 0)).toBe(REVIEWS.length);
    expect(manifest.input.skipped).toEqual([join(workspace.dir, 'seven', '_SUCCESS')]);
  });

  test('a glob selects files across folders', async () => {
    const result = await clean(stepInput(join(workspace.dir, 'seven', '**', 'part-[0-3].tsv*')));
    const expected = shards.slice(0, 4).flat().map((review) => review.id);
    expect(result.counts.read).toBe(expected.length);
  });

  test('as activities: plan, one shard per file, merge: the same rows and counts; done shards are skipped', async () => {
    const inProcess = await clean(stepInput(join(workspace.dir, 'seven')));
    const input = stepInput(join(workspace.dir, 'seven'));
    const plan = await planClean(input);
    expect(plan.tasks.map((task) => task.file.name)).toEqual(['more/part-1.tsv.gz', 'more/part-3.tsv.gz', 'more/part-5.tsv.gz', 'part-0.tsv', 'part-2.tsv', 'part-4.tsv', 'part-6.tsv']);
    // Shards finish in any order (any worker); the merge orders them.
    const results = await Promise.all([...plan.tasks].reverse().map((task) => cleanShard({ ...input, task })));
    const candidates = plan.tasks[2].candidatesPath;
    const written = statSync(candidates).mtimeMs;
    expect(await cleanShard({ ...input, task: plan.tasks[2] })).toEqual(results.at(-3));
    expect(statSync(candidates).mtimeMs).toBe(written);

    const merged = await mergeClean({ ...input, plan, results });
    expect(merged.counts).toEqual(inProcess.counts);
    expect(await rows(merged.cleanedPath)).toEqual(await rows(inProcess.cleanedPath));
    expect(readFileSync(merged.quarantinePath, 'utf8')).toBe(readFileSync(inProcess.quarantinePath, 'utf8'));
    // A merge retried after it finished (its activity lost) returns the same result.
    expect(await mergeClean({ ...input, plan, results })).toEqual(merged);
  });

  test('a shard is redone when its file or the data config changed since it was cleaned', async () => {
    const input = stepInput(join(workspace.dir, 'seven'));
    const shardOf = async (step: typeof input) => (await planClean(step)).tasks[3];
    const task = await shardOf(input);
    await cleanShard({ ...input, task });
    const mtimeOf = () => statSync(task.candidatesPath).mtimeMs;
    let written = mtimeOf();
    const file = statSync(task.file.path);
    utimesSync(task.file.path, file.atime, new Date(file.mtimeMs + 60_000));
    await cleanShard({ ...input, task: await shardOf(input) });
    expect(mtimeOf()).not.toBe(written);
    written = mtimeOf();
    // The same pipeline (same shard folder) retried with another nested setting: redone too.
    const remapped = { ...input, config: { ...input.config, data: { ...input.config.data, columns: { text: 'review_body' } } } };
    await cleanShard({ ...remapped, task: await shardOf(remapped) });
    expect(mtimeOf()).not.toBe(written);
  });

  test('configHash: key order does not matter, a nested change does', () => {
    expect(configHash({ a: 1, b: { c: 2, d: [3] } })).toBe(configHash({ b: { d: [3], c: 2 }, a: 1 }));
    expect(configHash({ a: 1, b: { c: 2 } })).not.toBe(configHash({ a: 1, b: { c: 3 } }));
  });

  test('a merge missing a shard result fails naming what to do', async () => {
    const input = stepInput(join(workspace.dir, 'seven'));
    const plan = await planClean(input);
    const results = await Promise.all(plan.tasks.slice(1).map((task) => cleanShard({ ...input, task })));
    await expect(mergeClean({ ...input, plan, results })).rejects.toThrow(/run every shard first/);
  });

  test('data.select newest cleans only the most recently modified matching file', async () => {
    const glob = join(workspace.dir, 'seven', '**', 'part-*.tsv*');
    const newest = join(workspace.dir, 'seven', 'part-2.tsv');
    const now = Date.now() / 1000;
    shards.forEach((_, shard) => {
      const file = join(workspace.dir, 'seven', shard % 2 === 0 ? `part-${shard}.tsv` : `more/part-${shard}.tsv.gz`);
      utimesSync(file, now - 3600, file === newest ? now : now - 3600 + shard);
    });
    const result = await clean(stepInput(glob, { data: { select: 'newest' } }));
    const manifest = JSON.parse(readFileSync(join(result.cleanedPath, '..', 'manifest.json'), 'utf8'));
    expect(manifest.input.files.map((file: { path: string }) => file.path)).toEqual([newest]);
    expect(result.counts.read).toBe(shards[2].length);
  });

  test('a glob that matches nothing fails naming the pattern', async () => {
    const pattern = join(workspace.dir, 'seven', '*.parquet');
    await expect(clean(stepInput(pattern))).rejects.toMatchObject({ name: 'InvalidDataError', file: pattern, problem: 'the glob matches no file' });
  });

  test('globToRegExp', () => {
    expect(globToRegExp('**/part-*.tsv{,.gz}').test('a/b/part-1.tsv.gz')).toBe(true);
    expect(globToRegExp('**/part-*.tsv{,.gz}').test('part-1.tsv')).toBe(true);
    expect(globToRegExp('*.tsv').test('a/part.tsv')).toBe(false);
    expect(globToRegExp('part-[!0].tsv').test('part-0.tsv')).toBe(false);
    expect(globToRegExp('part-?.tsv').test('part-12.tsv')).toBe(false);
  });
});

describe('a large TSV is cleaned in byte ranges, on worker threads', () => {
  test('the same rows, counts and quarantine lines with 1 and 2 threads; the first copy of a review wins across ranges', async () => {
    // 30 copies of the reviews (about 40 MB, so 3 ranges of 16 MB), each copy's bodies marked.
    const copies = 30;
    const lines = [TSV_HEADER];
    const badLines: number[] = [];
    for (let copy = 0; copy < copies; copy += 1) {
      for (const review of REVIEWS) lines.push(tsvLine({ ...review, body: `Copy ${copy}. ${review.body}`.padEnd(2800, ' ') }));
      lines.push(`broken row of copy ${copy}`);
      badLines.push(lines.length);
    }
    const path = write('large/reviews.tsv', lines.join('\n') + '\n');
    const results = [];
    for (const threads of [1, 2]) {
      const result = await clean(stepInput(path, { data: { threads } }));
      const manifest = JSON.parse(readFileSync(join(result.cleanedPath, '..', 'manifest.json'), 'utf8'));
      expect(manifest).toMatchObject({ tasks: 3, threads: threads === 1 ? 1 : 2 });
      const quarantine = readFileSync(result.quarantinePath, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(quarantine.map((entry) => entry.line)).toEqual(badLines);
      expect(quarantine.every((entry, i) => entry.raw === `broken row of copy ${i}`)).toBe(true);
      results.push({ counts: result.counts, rows: await rows(result.cleanedPath) });
    }
    expect(results[1]).toEqual(results[0]);
    const kept = results[0].counts.kept;
    expect(results[0].counts).toMatchObject({ read: (REVIEWS.length + 1) * copies, quarantined: copies, deduped: kept * (copies - 1) });
    expect(results[0].rows.every((row) => /^Copy 0\.( |$)/.test(row.text as string))).toBe(true);
  });
});

describe('faults found on a worker thread', () => {
  test('a gzip truncated past the probed head fails as InvalidData naming the file and the last line read', async () => {
    const lines = [TSV_HEADER, ...Array.from({ length: 40 }, () => REVIEWS.map(tsvLine)).flat()].join('\n') + '\n';
    const whole = gzipSync(lines);
    expect(lines.length).toBeGreaterThan(2 * 1024 * 1024);
    write('cut-late/a.tsv', [TSV_HEADER, tsvLine(REVIEWS[0])].join('\n') + '\n');
    const cut = write('cut-late/b.tsv.gz', whole.subarray(0, Math.floor(whole.length * 0.8)));
    const error = await clean(stepInput(join(workspace.dir, 'cut-late'), { data: { threads: 2 } })).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InvalidDataError);
    expect(error).toMatchObject({ file: cut, problem: expect.stringMatching(/^gzip data is corrupt or truncated after line \d+ /) });
  });
});

describe('rules: dedupe, category, minimum lengths', () => {
  test('a review id seen again is deduped, the first copy in file order kept, and counted', async () => {
    const [a, b, c] = REVIEWS;
    write('dupes/1.tsv', [TSV_HEADER, tsvLine(a), tsvLine(b), tsvLine({ ...a, body: 'Second copy in the same file.' })].join('\n') + '\n');
    write('dupes/2.tsv', [TSV_HEADER, tsvLine({ ...b, body: 'Copy in a later file.' }), tsvLine(c)].join('\n') + '\n');
    const result = await clean(stepInput(join(workspace.dir, 'dupes')));
    expect(result.counts).toMatchObject({ read: 5, kept: 3, deduped: 2 });
    expectRowsAddUp(result.counts);
    const kept = await rows(result.cleanedPath);
    expect(kept.map((row) => row.text)).toEqual([a, b, c].sort((x, y) => x.id.localeCompare(y.id)).map((review) => cleanTextDefault(review.body, 100)));
  });

  test('category and minimum lengths drop rows by rule, each counted', async () => {
    const path = write(
      'rules.csv',
      ['review_id,product_category,text,summary', 'R1,Camera,One two three four.,Good camera', 'R2,Camera,Too short.,Good camera', 'R3,Camera,One two three four.,Good', 'R4,PC,One two three four.,Good camera', 'R5,Camera,<br />,Empty'].join('\n') + '\n',
    );
    const result = await clean(stepInput(path, { data: { category: 'Camera', minTextWords: 3, minSummaryWords: 2 } }));
    expect(result.counts).toEqual({
      read: 5,
      kept: 1,
      droppedByRule: 4,
      droppedEmpty: 1,
      droppedShort: 2,
      filteredCategory: 1,
      sampledOut: 0,
      quarantined: 0,
      deduped: 0,
    });
    expect(await ids(result.cleanedPath)).toEqual(['R1']);
  });

  test('minimum lengths above the caps are rejected by the config', () => {
    expect(() => parseConfig({ data: { minTextWords: 101 } })).toThrow(/data\.minTextWords: minTextWords and minSummaryWords must not exceed/);
  });

  test('the row equation: a count that does not add up fails with every count in the message', () => {
    const counts: CleanCounts = { read: 10, kept: 5, droppedByRule: 2, droppedEmpty: 2, droppedShort: 0, filteredCategory: 0, sampledOut: 1, quarantined: 1, deduped: 0 };
    expect(() => assertRowsAddUp(counts, 'in.tsv')).toThrow(
      /row accounting failed for in\.tsv: read 10 != kept \+ droppedByRule \+ quarantined \+ deduped \+ sampledOut = 9/,
    );
    expect(() => assertRowsAddUp({ ...counts, kept: 6 }, 'in.tsv')).not.toThrow();
    expect(() => assertRowsAddUp({ ...counts, kept: 6, droppedEmpty: 1 }, 'in.tsv')).toThrow(/droppedByRule 2 != its rules 1/);
  });
});

describe('split by product', () => {
  let cleanedPath: string;

  beforeAll(async () => {
    const many = generateReviews({ rows: 3000, products: 120, seed: 4 });
    cleanedPath = (await clean(stepInput(write('by-product.tsv', reviewsToTsv(many))))).cleanedPath;
  });

  test('every product lands on one side; about 10% of products in validation', async () => {
    const result = await split({ ...stepInput('unused.tsv', { split: { splitBy: 'product' } }), cleanedPath });
    const products = async (path: string) => new Set((await rows(path)).map((row) => row.product_id as string));
    const [train, validation] = [await products(result.trainPath), await products(result.validationPath)];
    expect([...validation].filter((product) => train.has(product))).toEqual([]);
    expect(validation.size).toBeGreaterThan(0);
    expect([...validation].every((product) => hashFraction('split', 42, product) < 0.1)).toBe(true);
    expect([...train].every((product) => hashFraction('split', 42, product) >= 0.1)).toBe(true);
    const manifest = JSON.parse(readFileSync(join(result.trainPath, '..', 'manifest.json'), 'utf8'));
    expect(manifest.counts).toMatchObject({ trainProducts: train.size, validationProducts: validation.size });

    // By review (the default), products straddle the two sides.
    const byReview = await split({ ...stepInput('unused.tsv'), cleanedPath });
    const reviewValidation = await products(byReview.validationPath);
    expect([...reviewValidation].some((product) => train.has(product))).toBe(true);
  });

  test('rows without a product id cannot be split by product', async () => {
    const path = write('no-products.csv', ['text,summary', ...Array.from({ length: 30 }, (_, i) => `Review ${i}.,Headline ${i}`)].join('\n') + '\n');
    const noProducts = await clean(stepInput(path));
    const error = await split({ ...stepInput('unused.tsv', { split: { splitBy: 'product' } }), cleanedPath: noProducts.cleanedPath }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InvalidDataError);
    expect((error as Error).message).toMatch(/splitBy "product" needs a product id on every row, and 30 of 30 cleaned rows have none/);
  });
});
