/**
 * clean without a header line (`data.header: false`): CSV and TSV (plain and gzip) whose columns
 * data.columns names by position give the same rows as the same data with a header; the first
 * line is a row; short rows are quarantined; a large headerless TSV is still cut into byte
 * ranges; a headerless file read as if it had a header fails suggesting data.header: false.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clean } from '../../activities/clean';
import type { PipelineConfigInput } from '../../lib/config';
import type { CleanCounts } from '../../lib/steps';
import { CleanWorkspace } from '../helpers/clean-workspace';
import { generateReviews, reviewsToTsv } from '../../scripts/generate-reviews';

const workspace = new CleanWorkspace('clean-headerless');
const { stepInput, write } = workspace;

async function rows(path: string): Promise<Record<string, unknown>[]> {
  const reader = await workspace.duck.runAndReadAll(`SELECT * FROM read_parquet('${path}') ORDER BY review_id`);
  return reader.getRowObjectsJS();
}

function quarantine(path: string): { line: number; reason: string; raw: string }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

function expectRowsAddUp(counts: CleanCounts): void {
  expect(counts.kept + counts.droppedByRule + counts.quarantined + counts.deduped + counts.sampledOut).toBe(counts.read);
}

// Well-formed generated reviews (the generator's column defects removed), as TSV lines.
const REVIEWS = generateReviews({ rows: 300, products: 30, seed: 5 }).filter((review) => review.fields.length === 15);
const TSV_HEADER = reviewsToTsv([]).trimEnd();
const TSV_LINES = REVIEWS.map((review) => review.fields.join('\t'));
/** The Amazon TSV's columns by position (review_id is the 3rd, review_body the 14th). */
const TSV_POSITIONS = { reviewId: 3, productId: 4, category: 7, rating: 8, summary: 13, text: 14 };
const headerless = (columns: NonNullable<NonNullable<PipelineConfigInput['data']>['columns']>) => ({ data: { header: false, columns } });

const csvQuote = (value: string) => `"${value.replaceAll('"', '""')}"`;
/** McAuley-style CSV rows: reviewer, product, review id, rating, headline, body, unix time. */
const CSV_LINES = REVIEWS.map((review) => {
  const f = review.fields;
  return [f[1], f[3], f[2], f[7], csvQuote(f[12]), csvQuote(f[13]), '1420070400'].join(',');
});
const CSV_HEADER = 'reviewer,asin,id,stars,title,body,unixTime';
const CSV_POSITIONS = { productId: 2, reviewId: 3, rating: 4, summary: 5, text: 6 };

describe('data.header false', () => {
  let withHeader: { counts: CleanCounts; rows: Record<string, unknown>[] };

  beforeAll(async () => {
    const result = await clean(stepInput(write('tsv/with-header.tsv', [TSV_HEADER, ...TSV_LINES].join('\n') + '\n')));
    withHeader = { counts: result.counts, rows: await rows(result.cleanedPath) };
  });

  test('a headerless TSV (plain and gzip) gives the rows and counts of the same data with a header', async () => {
    expect(withHeader.rows.length).toBeGreaterThan(REVIEWS.length * 0.9);
    const body = TSV_LINES.join('\n') + '\n';
    for (const path of [write('tsv/no-header.tsv', body), write('tsv/no-header.tsv.gz', gzipSync(body))]) {
      const result = await clean(stepInput(path, headerless(TSV_POSITIONS)));
      expect(result.counts).toEqual(withHeader.counts);
      expect(await rows(result.cleanedPath)).toEqual(withHeader.rows);
    }
  });

  test('a headerless CSV gives the rows of the same CSV with a header, whose first line is a row', async () => {
    const named = await clean(
      stepInput(write('csv/with-header.csv', [CSV_HEADER, ...CSV_LINES].join('\r\n') + '\r\n'), {
        data: { columns: { productId: 'asin', reviewId: 'id', rating: 'stars', summary: 'title', text: 'body' } },
      }),
    );
    const result = await clean(stepInput(write('csv/no-header.csv', CSV_LINES.join('\r\n') + '\r\n'), headerless(CSV_POSITIONS)));
    expect(result.counts).toEqual(named.counts);
    expect(result.counts.read).toBe(REVIEWS.length);
    const kept = await rows(result.cleanedPath);
    expect(kept).toEqual(await rows(named.cleanedPath));
    // The same reviews as the TSV: each field read from exactly its mapped position.
    expect(kept).toEqual(withHeader.rows);
  });

  test('a one-line file is one row, not a header without rows', async () => {
    const result = await clean(stepInput(write('csv/one.csv', `R1,Great camera.,Love it\n`), headerless({ reviewId: 1, text: 2, summary: 3 })));
    expect(result.counts).toMatchObject({ read: 1, kept: 1, quarantined: 0 });
    expect(await rows(result.cleanedPath)).toEqual([{ review_id: 'R1', product_id: '', text: 'Great camera.', summary: 'Love it', star_rating: null }]);
  });

  test('a row with fewer fields than the highest mapped position is quarantined; more fields are read', async () => {
    const tsv = [TSV_LINES[0], 'US\t1\tRSHORT\tB00SHORT', `${TSV_LINES[1]}\textra\tfields`, TSV_LINES[2]].join('\n') + '\n';
    const tsvResult = await clean(stepInput(write('short/reviews.tsv', tsv), headerless(TSV_POSITIONS)));
    expect(tsvResult.counts).toMatchObject({ read: 4, quarantined: 1 });
    expectRowsAddUp(tsvResult.counts);
    expect(quarantine(tsvResult.quarantinePath)).toEqual([
      { file: expect.any(String), line: 2, reason: 'expected at least 14 tab-separated columns (data.columns maps column 14), found 4', raw: 'US\t1\tRSHORT\tB00SHORT' },
    ]);
    // The row with extra fields keeps its body (the 14th field), not the fields after it.
    const ids = REVIEWS.slice(0, 3).map((review) => review.fields[2]);
    const expected = withHeader.rows.filter((row) => ids.includes(row.review_id as string));
    expect(await rows(tsvResult.cleanedPath)).toEqual(expected);

    const csv = [CSV_LINES[0], 'someone,B00SHORT,RSHORT', CSV_LINES[1]].join('\n') + '\n';
    const csvResult = await clean(stepInput(write('short/reviews.csv', csv), headerless(CSV_POSITIONS)));
    expect(csvResult.counts).toMatchObject({ read: 3, quarantined: 1 });
    expectRowsAddUp(csvResult.counts);
    expect(quarantine(csvResult.quarantinePath).map(({ line, reason }) => ({ line, reason }))).toEqual([
      { line: 2, reason: 'expected at least 6 comma-separated columns (data.columns maps column 6), found 3' },
    ]);
  });

  test('a large headerless TSV is cut into byte ranges, each range\'s first line read as a row', async () => {
    // 40 copies of the reviews, bodies padded (about 40 MB: 3 ranges of 16 MB with 2 threads).
    const copies = 40;
    const padded = REVIEWS.map((review) => review.fields.map((field, i) => (i === 13 ? field.padEnd(3400, ' ') : field)).join('\t'));
    const lines: string[] = [];
    const badLines: number[] = [];
    for (let copy = 0; copy < copies; copy += 1) {
      lines.push(...padded, `broken row of copy ${copy}`);
      badLines.push(lines.length);
    }
    const path = write('large/reviews.tsv', lines.join('\n') + '\n');
    const result = await clean(stepInput(path, { data: { header: false, columns: TSV_POSITIONS, threads: 2 } }));
    const manifest = JSON.parse(readFileSync(join(result.cleanedPath, '..', 'manifest.json'), 'utf8'));
    expect(manifest.tasks).toBe(3);
    expect(result.counts).toMatchObject({
      read: lines.length,
      quarantined: copies,
      kept: withHeader.counts.kept,
      deduped: withHeader.counts.kept * (copies - 1),
    });
    expectRowsAddUp(result.counts);
    expect(quarantine(result.quarantinePath).map((entry) => entry.line)).toEqual(badLines);
    expect(await rows(result.cleanedPath)).toEqual(withHeader.rows);
  });

  test('a JSONL file under format auto fails naming the file: header false is for CSV and TSV', async () => {
    const path = write('mixed/reviews.jsonl', `${JSON.stringify({ text: 'Good.', summary: 'Fine' })}\n`);
    await expect(clean(stepInput(path, headerless({ text: 1, summary: 2 })))).rejects.toMatchObject({
      name: 'InvalidDataError',
      file: path,
      problem: 'data.header false applies to CSV and TSV files only, and this file is jsonl (its fields are named)',
    });
  });

  test('a file of blank lines has no rows', async () => {
    const path = write('blank/reviews.csv', '\n\n');
    await expect(clean(stepInput(path, headerless({ text: 1, summary: 2 })))).rejects.toMatchObject({ name: 'InvalidDataError', problem: 'the input has no rows' });
  });
});

describe('a headerless file read with a header', () => {
  test('fails saying the first line looks like a row and suggesting data.header: false (CSV and TSV)', async () => {
    for (const path of [write('unset/reviews.csv', CSV_LINES.join('\n') + '\n'), write('unset/reviews.tsv', TSV_LINES.join('\n') + '\n')]) {
      const error = await clean(stepInput(path)).catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ name: 'InvalidDataError', file: path });
      expect((error as Error).message).toMatch(/the header lacks column\(s\) .*, and its first line looks like a row, not a header \(found: /);
      expect((error as Error).message).toMatch(/If the file has no header line, set data\.header: false and give each field's column by position/);
    }
  });

  test('a real header without the mapped names gets the plain message', async () => {
    const path = write('unset/named.csv', `${CSV_HEADER}\n${CSV_LINES[0]}\n`);
    const error = await clean(stepInput(path)).catch((thrown: unknown) => thrown);
    expect((error as Error).message).toMatch(/the header lacks column\(s\) text \(text\), summary \(summary\); found: reviewer, asin/);
    expect((error as Error).message).not.toMatch(/data\.header/);
  });
});
