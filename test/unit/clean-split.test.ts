/**
 * clean and split end to end on small files in a temp folder: generated Amazon TSV (plain and
 * gzip), hand-written CSV, malformed rows, whole-file faults, sampling and split determinism.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clean } from '../../activities/clean';
import { split } from '../../activities/split';
import { cleanText, hashFraction } from '../../lib/cleaning';
import type { PipelineConfigInput } from '../../lib/config';
import { InvalidConfigError, InvalidDataError } from '../../lib/failures';
import { CleanWorkspace } from '../helpers/clean-workspace';
import { generateReviews, reviewsToTsv, type GeneratedReview } from '../../scripts/generate-reviews';

/** Each pipeline has its own step folders and cleans as the seed does unless told. */
const workspace = new CleanWorkspace('clean-split', { cleaning: 'seed' });
const { stepInput, write } = workspace;

/** The rows of a Parquet file, in file order or sorted by `orderBy` (clean does not promise an order). */
async function readParquet(path: string, orderBy?: string): Promise<Record<string, unknown>[]> {
  const reader = await workspace.duck.runAndReadAll(`SELECT * FROM read_parquet('${path}')${orderBy ? ` ORDER BY ${orderBy}` : ''}`);
  return reader.getRowObjectsJS();
}

function readQuarantine(path: string): { file: string; line: number; reason: string; raw: string }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

// ---------------------------------------------------------------------------------------------
// Amazon TSV: 600 generated reviews (with the generator's defects) plus three hand-made bad rows.

const REVIEWS = generateReviews({ rows: 600, products: 60, seed: 11 });
const COLUMNS = 15;
const wellFormed = (review: GeneratedReview) => review.fields.length === COLUMNS;
const field = (review: GeneratedReview, index: number) => review.fields[index];
const [REVIEW_ID, CATEGORY, RATING, HEADLINE, BODY] = [2, 6, 7, 12, 13];

const goodRow = (id: string, body: string) =>
  ['US', '1', id, 'B00TESTXXX', '1', 'Test Camera', 'Camera', '5', '0', '0', 'N', 'Y', 'Five Stars', body, '2015-01-01'].join('\t');
/** Lines 602, 603 and 604 of the file (line 1 is the header). */
const BAD_ROWS = Buffer.concat([
  Buffer.from(`${goodRow('RNUL', 'Nice\u0000camera.')}\n`),
  Buffer.concat([Buffer.from(goodRow('RUTF8', 'Bad ')), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from(' bytes.\n')]),
  Buffer.from('US\t1\tRSHORT\tonly four columns\n'),
]);
const HEADER = reviewsToTsv([]).trimEnd();
const TSV_BYTES = Buffer.concat([Buffer.from(reviewsToTsv(REVIEWS)), BAD_ROWS]);

/** What clean must keep, computed from the generator's fields (the seed's rules, no category). */
const EXPECTED_KEPT = REVIEWS.filter(wellFormed).filter(
  (review) => cleanText(field(review, BODY), 100) !== '' && cleanText(field(review, HEADLINE), 20) !== '',
);

describe('clean: Amazon TSV', () => {
  let tsvPath: string;
  let result: Awaited<ReturnType<typeof clean>>;

  beforeAll(async () => {
    tsvPath = write('reviews.tsv', TSV_BYTES);
    result = await clean(stepInput(tsvPath));
  });

  test('the generated sample has the defects this test relies on', () => {
    const defects = new Set(REVIEWS.flatMap((review) => review.defects));
    for (const defect of ['html', 'entity', 'emptyBody', 'overlong', 'nonAscii', 'missingColumn', 'extraColumn'] as const) {
      expect(defects).toContain(defect);
    }
  });

  test('counts add up and match the rows', () => {
    const malformed = REVIEWS.filter((review) => !wellFormed(review)).length + 3;
    const droppedEmpty = REVIEWS.length - malformed + 3 - EXPECTED_KEPT.length;
    expect(result.counts).toEqual({
      read: REVIEWS.length + 3,
      kept: EXPECTED_KEPT.length,
      droppedByRule: droppedEmpty,
      droppedEmpty,
      droppedShort: 0,
      filteredCategory: 0,
      sampledOut: 0,
      quarantined: malformed,
      deduped: 0,
    });
    const { read, kept, droppedByRule, quarantined, deduped, sampledOut } = result.counts;
    expect(kept + droppedByRule + quarantined + deduped + sampledOut).toBe(read);
    expect(result.counts.droppedEmpty).toBeGreaterThan(0);
  });

  test('cleaned.parquet holds the kept rows, cleaned as the seed does', async () => {
    const rows = await readParquet(result.cleanedPath);
    expect(rows.map((row) => row.review_id).sort()).toEqual(EXPECTED_KEPT.map((review) => field(review, REVIEW_ID)).sort());
    const byId = new Map(rows.map((row) => [row.review_id, row]));
    for (const review of EXPECTED_KEPT) {
      const row = byId.get(field(review, REVIEW_ID))!;
      expect(row).toEqual({
        review_id: field(review, REVIEW_ID),
        product_id: field(review, 3),
        text: cleanText(field(review, BODY), 100),
        summary: cleanText(field(review, HEADLINE), 20),
        star_rating: Number(field(review, RATING)),
      });
    }
    expect(rows.some((row) => /[^\x00-\x7f]/.test(row.text as string))).toBe(true);
    expect(rows.every((row) => !/<br|&#34;|\[\[VIDEOID/.test(row.text as string))).toBe(true);
  });

  test('malformed rows are quarantined with file, line and reason', () => {
    const entries = readQuarantine(result.quarantinePath);
    const generatedBadLines = REVIEWS.flatMap((review, i) => (wellFormed(review) ? [] : [i + 2]));
    expect(entries.map((entry) => entry.line)).toEqual([...generatedBadLines, 602, 603, 604]);
    expect(entries.every((entry) => entry.file === tsvPath)).toBe(true);
    const byLine = new Map(entries.map((entry) => [entry.line, entry]));
    expect(byLine.get(602)).toMatchObject({ reason: 'contains a NUL byte', raw: expect.stringContaining('RNUL') });
    expect(byLine.get(603)).toMatchObject({ reason: 'invalid UTF-8', raw: expect.stringContaining('RUTF8') });
    expect(byLine.get(604)).toMatchObject({ reason: 'expected 15 tab-separated columns, found 4', raw: 'US\t1\tRSHORT\tonly four columns' });
    expect(byLine.get(generatedBadLines[0])!.reason).toMatch(/^expected 15 tab-separated columns, found 1[46]$/);
  });

  test('the manifest records input, config hash, counts and outputs', () => {
    const manifest = JSON.parse(readFileSync(join(result.cleanedPath, '..', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      step: 'clean',
      input: { path: tsvPath, format: 'amazon-tsv', gzip: false, sizeBytes: TSV_BYTES.length },
      counts: result.counts,
      outputs: { cleaned: { path: result.cleanedPath, rows: result.counts.kept } },
    });
    expect(manifest.configHash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('the step folder holds only the published files (no temp files left)', () => {
    expect(readdirSync(join(result.cleanedPath, '..')).sort()).toEqual(['cleaned.parquet', 'manifest.json', 'quarantine.jsonl']);
  });

  test('.tsv.gz gives the same result as the plain file', async () => {
    const gzPath = write('reviews.tsv.gz', gzipSync(TSV_BYTES));
    const gz = await clean(stepInput(gzPath));
    expect(gz.counts).toEqual(result.counts);
    expect(await readParquet(gz.cleanedPath, 'review_id')).toEqual(await readParquet(result.cleanedPath, 'review_id'));
    expect(readQuarantine(gz.quarantinePath).map(({ line, reason }) => ({ line, reason }))).toEqual(
      readQuarantine(result.quarantinePath).map(({ line, reason }) => ({ line, reason })),
    );
  });

  test('category keeps that product_category only', async () => {
    const other = REVIEWS.filter(wellFormed).filter((review) => field(review, CATEGORY) !== 'Camera').length;
    expect(other).toBeGreaterThan(0);
    const filtered = await clean(stepInput(tsvPath, { data: { category: 'Camera' } }));
    expect(filtered.counts.filteredCategory).toBe(other);
    // The three hand-made bad rows are malformed before any filter applies.
    expect(filtered.counts.quarantined).toBe(result.counts.quarantined);
    const kept = new Set((await readParquet(filtered.cleanedPath)).map((row) => row.review_id));
    const cameraIds = EXPECTED_KEPT.filter((review) => field(review, CATEGORY) === 'Camera').map((review) => field(review, REVIEW_ID));
    expect([...kept].sort()).toEqual(cameraIds.sort());
  });

  test('a line too long to be a review is quarantined without holding it in memory', async () => {
    const huge = goodRow('RHUGE', 'word '.repeat(2 * 1024 * 1024));
    const path = write('huge.tsv', [HEADER, goodRow('RA', 'Before.'), huge, goodRow('RB', 'After.')].join('\n') + '\n');
    const result = await clean(stepInput(path));
    expect(result.counts).toMatchObject({ read: 3, kept: 2, quarantined: 1 });
    expect((await readParquet(result.cleanedPath, 'review_id')).map((row) => row.review_id)).toEqual(['RA', 'RB']);
    const [entry] = readQuarantine(result.quarantinePath);
    expect(entry).toMatchObject({ line: 3, reason: 'line longer than 8388608 bytes' });
    expect(entry.raw).toBe(huge.slice(0, 2000));
  });

  test('progress is reported and an abort publishes nothing', async () => {
    const seen: number[] = [];
    await clean(stepInput(tsvPath), { onProgress: (rows) => seen.push(rows) });
    expect(seen.at(-1)).toBe(REVIEWS.length + 3);

    const aborted = stepInput(tsvPath);
    const controller = new AbortController();
    controller.abort();
    await expect(clean(aborted, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const stepFolder = join(workspace.dir, 'runs', aborted.pipelineId, 'clean');
    expect(readdirSync(stepFolder)).toEqual([]);
  });
});

describe('clean: sampling', () => {
  test('the same reviews are kept from one file or from three shards in another order', async () => {
    const rows = reviewsToTsv(REVIEWS).trimEnd().split('\n');
    const [header, ...data] = rows;
    const sampling = { data: { sampleFraction: 0.5, seed: 3 } };

    const whole = await clean(stepInput(write('whole.tsv', rows.join('\n') + '\n'), sampling));
    const wholeIds = (await readParquet(whole.cleanedPath)).map((row) => row.review_id as string);

    const shardIds: string[] = [];
    for (let shard = 0; shard < 3; shard++) {
      const lines = data.filter((_, i) => i % 3 === shard).reverse();
      const result = await clean(stepInput(write(`shard-${shard}.tsv`, [header, ...lines].join('\n') + '\n'), sampling));
      shardIds.push(...(await readParquet(result.cleanedPath)).map((row) => row.review_id as string));
    }
    expect(shardIds.sort()).toEqual([...wholeIds].sort());

    // About half of the keepable reviews, and exactly those whose hash fraction is below 0.5.
    expect(wholeIds.length / EXPECTED_KEPT.length).toBeGreaterThan(0.4);
    expect(wholeIds.length / EXPECTED_KEPT.length).toBeLessThan(0.6);
    const expected = EXPECTED_KEPT.map((review) => field(review, REVIEW_ID)).filter((id) => hashFraction('sample', 3, id) < 0.5);
    expect([...wholeIds].sort()).toEqual(expected.sort());
    expect(whole.counts.sampledOut).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180): quoted commas, doubled quotes, newlines inside quotes, CRLF line ends.

const CSV_LINES = [
  'text,summary,product_id', // line 1
  '"Great camera, really. I love it.",Five Stars,B001', // 2
  '"Line one', // 3: a record over two lines, with doubled quotes
  'line two ""quoted"" end.","Multi, line",B002', // 4
  'plain body,plain headline,B003', // 5
  '"bad "quote,x,B004', // 6: text after a closing quote
  'a,b', // 7: two columns
  ',Empty text,B005', // 8: dropped (empty body)
  '"<br />Tags &#34;here&#34;.",Headline,B006', // 9
  '"never closed,x,B007', // 10: unterminated at end of file
];

describe('clean: CSV', () => {
  let csvPath: string;
  let result: Awaited<ReturnType<typeof clean>>;

  beforeAll(async () => {
    csvPath = write('reviews.csv', CSV_LINES.join('\r\n') + '\r\n');
    result = await clean(stepInput(csvPath));
  });

  test('parses quoted fields and names rows <file>:<line>', async () => {
    expect(await readParquet(result.cleanedPath, 'review_id')).toEqual([
      { review_id: 'reviews.csv:2', product_id: 'B001', text: 'Great camera, really. I love it.', summary: 'Five Stars', star_rating: null },
      { review_id: 'reviews.csv:3', product_id: 'B002', text: 'Line one line two "quoted" end.', summary: 'Multi, line', star_rating: null },
      { review_id: 'reviews.csv:5', product_id: 'B003', text: 'plain body', summary: 'plain headline', star_rating: null },
      { review_id: 'reviews.csv:9', product_id: 'B006', text: 'Tags  here .', summary: 'Headline', star_rating: null },
    ]);
  });

  test('counts and quarantine', () => {
    expect(result.counts).toMatchObject({ read: 8, kept: 4, droppedByRule: 1, droppedEmpty: 1, sampledOut: 0, quarantined: 3, deduped: 0 });
    expect(readQuarantine(result.quarantinePath)).toEqual([
      { file: csvPath, line: 6, reason: 'text after the closing quote of field 1', raw: '"bad "quote,x,B004' },
      { file: csvPath, line: 7, reason: 'expected 3 comma-separated columns, found 2', raw: 'a,b' },
      { file: csvPath, line: 10, reason: expect.stringMatching(/^unbalanced quotes: a quoted field is not closed/), raw: '"never closed,x,B007' },
    ]);
  });

  test('without product_id the column is empty', async () => {
    const path = write('no-product.csv', 'summary,text\nHeadline,"Body, with comma."\n');
    const rows = await readParquet((await clean(stepInput(path))).cleanedPath);
    expect(rows).toEqual([{ review_id: 'no-product.csv:2', product_id: '', text: 'Body, with comma.', summary: 'Headline', star_rating: null }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Faults of the whole file: InvalidDataError naming the file.


describe('clean: whole-file faults throw InvalidDataError', () => {
  const cases: { name: string; makeFile: () => string; message: RegExp; data?: PipelineConfigInput['data'] }[] = [
    { name: 'a missing file', makeFile: () => join(workspace.dir, 'nope.tsv'), message: /does not exist/ },
    { name: 'an empty file', makeFile: () => write('empty.tsv', ''), message: /is empty/ },
    { name: 'an empty gzip file', makeFile: () => write('empty.tsv.gz', gzipSync('')), message: /no header line/ },
    { name: 'a header-only file', makeFile: () => write('header-only.tsv', `${HEADER}\n`), message: /header but no data rows/ },
    { name: 'a TSV without review_body', makeFile: () => write('no-body.tsv', `${HEADER.replace('\treview_body', '')}\nx\n`), message: /lacks column\(s\) review_body/ },
    { name: 'a CSV without summary', makeFile: () => write('no-summary.csv', 'text,headline\na,b\n'), message: /lacks column\(s\) summary/ },
    { name: 'an unsupported extension', makeFile: () => write('reviews.json', '[]'), message: /cannot tell the format/ },
    { name: 'a truncated gzip file', makeFile: () => write('cut.tsv.gz', gzipSync(TSV_BYTES).subarray(0, 2000)), message: /corrupt or truncated/ },
    { name: 'a category filter on a CSV without categories', makeFile: () => write('cat.csv', 'text,summary\na,b\n'), message: /lacks column\(s\) product_category \(category\)/, data: { category: 'Camera' } },
    { name: 'no row surviving the filters', makeFile: () => write('all-filtered.tsv', reviewsToTsv(REVIEWS.slice(0, 20))), message: /no rows left after cleaning/, data: { category: 'Toys' } },
  ];

  test.each(cases)('$name', async ({ makeFile, message, data }) => {
    const file = makeFile();
    const error = await clean(stepInput(file, { data })).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(InvalidDataError);
    expect((error as InvalidDataError).file).toBe(file);
    expect((error as InvalidDataError).message).toContain(file);
    expect((error as InvalidDataError).message).toMatch(message);
  });
});

// ---------------------------------------------------------------------------------------------
// Split.

describe('split', () => {
  let cleanedPath: string;
  let cleanedIds: string[];

  beforeAll(async () => {
    const big = generateReviews({ rows: 2500, products: 60, seed: 5 });
    const result = await clean(stepInput(write('split-input.tsv.gz', gzipSync(reviewsToTsv(big)))));
    cleanedPath = result.cleanedPath;
    cleanedIds = (await readParquet(cleanedPath)).map((row) => row.review_id as string);
  });

  const ids = async (path: string) => (await readParquet(path, 'review_id')).map((row) => row.review_id as string);

  test('about 90/10, every cleaned row on exactly one side, chosen by the seeded hash', async () => {
    const result = await split({ ...stepInput('unused.tsv'), cleanedPath });
    const [train, validation] = [await ids(result.trainPath), await ids(result.validationPath)];
    expect(result.trainRows).toBe(train.length);
    expect(result.validationRows).toBe(validation.length);
    expect(train.length + validation.length).toBe(cleanedIds.length);
    expect([...train, ...validation].sort()).toEqual([...cleanedIds].sort());
    expect(validation.length / cleanedIds.length).toBeGreaterThan(0.07);
    expect(validation.length / cleanedIds.length).toBeLessThan(0.13);
    // DuckDB's SQL hash and lib/cleaning.ts's hashFraction agree (default split seed 42).
    expect(validation.every((id) => hashFraction('split', 42, id) < 0.1)).toBe(true);
    expect(train.every((id) => hashFraction('split', 42, id) >= 0.1)).toBe(true);
    expect((await readParquet(result.trainPath)).every((row) => Object.keys(row).join() === 'review_id,product_id,text,summary')).toBe(true);
  });

  test('deterministic for a seed, different for another', async () => {
    const first = await split({ ...stepInput('unused.tsv'), cleanedPath });
    const again = await split({ ...stepInput('unused.tsv'), cleanedPath });
    const other = await split({ ...stepInput('unused.tsv', { split: { seed: 43 } }), cleanedPath });
    expect(await ids(again.validationPath)).toEqual(await ids(first.validationPath));
    expect(await ids(again.trainPath)).toEqual(await ids(first.trainPath));
    expect(await ids(other.validationPath)).not.toEqual(await ids(first.validationPath));
  });

  test('a sampled input still splits about 90/10 with the default seeds (both 42)', async () => {
    const big = generateReviews({ rows: 2500, products: 60, seed: 5 });
    const sampled = await clean(stepInput(write('split-sampled.tsv', reviewsToTsv(big)), { data: { sampleFraction: 0.3 } }));
    const result = await split({ ...stepInput('unused.tsv'), cleanedPath: sampled.cleanedPath });
    const fraction = result.validationRows / sampled.counts.kept;
    expect(fraction).toBeGreaterThan(0.05);
    expect(fraction).toBeLessThan(0.15);
  });

  test('too little data fails with InvalidDataError saying how many rows there were', async () => {
    const tiny = await clean(stepInput(write('tiny.csv', 'text,summary\nGreat camera.,Five Stars\n')));
    const error = await split({ ...stepInput('unused.tsv'), cleanedPath: tiny.cleanedPath }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InvalidDataError);
    expect((error as InvalidDataError).message).toMatch(/^invalid data in .*cleaned\.parquet: 1 cleaned rows give/);
    expect(existsSync(join(workspace.dir, 'runs', workspace.lastPipelineId, 'split', 'train.parquet'))).toBe(false);
  });

  test('evaluating more validation rows than the split holds fails with InvalidConfigError naming both counts', async () => {
    const { validationRows } = await split({ ...stepInput('unused.tsv'), cleanedPath });
    const asking = (rows: number) =>
      stepInput('unused.tsv', { evaluate: { maxSamples: rows }, train: { evalEverySteps: 10, checkpointEverySteps: 10, evalSamples: rows } });
    const error = await split({ ...asking(validationRows + 1), cleanedPath }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).message).toContain(
      `the validation split holds ${validationRows} rows, but evaluate.maxSamples asks for ${validationRows + 1} and train.evalSamples asks for ${validationRows + 1}. ` +
        `Set evaluate.maxSamples and train.evalSamples to at most ${validationRows}`,
    );
    expect(existsSync(join(workspace.dir, 'runs', workspace.lastPipelineId, 'split', 'validation.parquet'))).toBe(false);
    // As many as there are is fine; train.evalSamples counts only with evaluations during training.
    await expect(split({ ...asking(validationRows), cleanedPath })).resolves.toMatchObject({ validationRows });
    await expect(split({ ...stepInput('unused.tsv', { train: { evalSamples: validationRows + 1 } }), cleanedPath })).resolves.toMatchObject({ validationRows });
  });

  test('a missing cleaned file fails with InvalidDataError', async () => {
    const missing = join(workspace.dir, 'no-such.parquet');
    await expect(split({ ...stepInput('unused.tsv'), cleanedPath: missing })).rejects.toMatchObject({ name: 'InvalidDataError', file: missing });
  });
});
