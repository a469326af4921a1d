/**
 * The malformed-input corpus (test/fixtures/malformed/, one file per fault): each row-level fault
 * lands in the quarantine file with file, line and reason while the good rows around it are kept
 * and the row equation holds; each whole-file fault fails at once with InvalidDataError naming
 * the file, which the activity layer turns into a non-retryable InvalidData failure.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { clean } from '../../activities/clean';
import { parseConfig, type PipelineConfigInput } from '../../lib/config';
import { InvalidDataError } from '../../lib/failures';
import { nonRetryable } from '../../lib/failures';
import type { CleanCounts } from '../../lib/steps';

const FIXTURES = resolve(__dirname, '..', 'fixtures', 'malformed');
let dir: string;
let pipelineNumber = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tuneflow-malformed-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(fixture: string, data: PipelineConfigInput['data'] = {}) {
  pipelineNumber += 1;
  const config = parseConfig({ data: { ...data, input: join(FIXTURES, fixture) }, storage: { root: join(dir, 'runs') } });
  return clean({ pipelineId: `m${pipelineNumber}`, config });
}

function expectRowsAddUp(counts: CleanCounts): void {
  expect(counts.kept + counts.droppedByRule + counts.quarantined + counts.deduped + counts.sampledOut).toBe(counts.read);
}

const rowFaults: { fixture: string; reason: string | RegExp; rawContains: string; data?: PipelineConfigInput['data'] }[] = [
  { fixture: 'wrong-column-count.tsv', reason: 'expected 15 tab-separated columns, found 5', rawContains: 'RSHORT' },
  { fixture: 'nul-byte.tsv', reason: 'contains a NUL byte', rawContains: 'RNUL' },
  { fixture: 'invalid-utf8.tsv', reason: 'invalid UTF-8', rawContains: 'RUTF8' },
  {
    fixture: 'overlong-field.tsv',
    reason: 'field review_body has 1500 characters, over data.maxFieldChars (1000)',
    rawContains: 'RLONG',
    data: { maxFieldChars: 1000 },
  },
  { fixture: 'unbalanced-quotes.csv', reason: /^unbalanced quotes: a quoted field is not closed/, rawContains: 'RQUOTE' },
  { fixture: 'invalid-json.jsonl', reason: /^invalid JSON \(/, rawContains: 'RBADJSON' },
];

describe('row faults are quarantined with file, line and reason', () => {
  test.each(rowFaults)('$fixture', async ({ fixture, reason, rawContains, data }) => {
    const result = await run(fixture, data);
    const entries = readFileSync(result.quarantinePath, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(entries).toEqual([{ file: join(FIXTURES, fixture), line: 3, reason: expect.anything(), raw: expect.stringContaining(rawContains) }]);
    if (typeof reason === 'string') expect(entries[0].reason).toBe(reason);
    else expect(entries[0].reason).toMatch(reason);
    expect(result.counts).toMatchObject({ read: 3, kept: 2, quarantined: 1, droppedByRule: 0, deduped: 0, sampledOut: 0 });
    expectRowsAddUp(result.counts);
  });
});

const fileFaults: { name: string; fixture: string; problem: RegExp }[] = [
  { name: 'missing file', fixture: 'no-such-file.tsv', problem: /the input file does not exist/ },
  { name: 'empty file', fixture: 'empty.tsv', problem: /the input file is empty/ },
  { name: 'header only', fixture: 'header-only.tsv', problem: /the input has a header but no data rows/ },
  { name: 'missing required columns', fixture: 'missing-columns.tsv', problem: /the header lacks column\(s\) review_body \(text\)/ },
  { name: 'truncated gzip', fixture: 'truncated.tsv.gz', problem: /gzip data is corrupt or truncated/ },
];

describe('whole-file faults fail fast with a non-retryable InvalidData error naming the file', () => {
  test.each(fileFaults)('$name ($fixture)', async ({ fixture, problem }) => {
    const error = await run(fixture).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(InvalidDataError);
    expect((error as InvalidDataError).file).toBe(join(FIXTURES, fixture));
    expect((error as InvalidDataError).problem).toMatch(problem);
    expect((error as InvalidDataError).message).toContain(join(FIXTURES, fixture));
    // What activities/index.ts throws for it: typed, and never retried.
    const failure = nonRetryable('InvalidData', (error as Error).message, error as Error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'InvalidData', nonRetryable: true });
  });

  test('a faulty file among good ones fails the whole input before any row is cleaned', async () => {
    pipelineNumber += 1;
    const config = parseConfig({ data: { input: join(FIXTURES, '{wrong-column-count,header-only}.tsv') }, storage: { root: join(dir, 'runs') } });
    const progress: number[] = [];
    await expect(clean({ pipelineId: `m${pipelineNumber}`, config }, { onProgress: (rows) => progress.push(rows) })).rejects.toMatchObject({
      name: 'InvalidDataError',
      file: join(FIXTURES, 'header-only.tsv'),
    });
    expect(progress).toEqual([]);
  });
});
