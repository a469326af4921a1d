/**
 * Generates demo camera reviews in the Amazon Customer Reviews TSV format, deterministically.
 *
 *   bin/ts-run scripts/generate-reviews.ts --out data/demo/camera_reviews.tsv.gz --rows 3000 --products 60 --seed 7
 *
 * Each review has a dominant aspect (image quality, battery life, autofocus, lens, build, price,
 * shipping, tripod, memory card) and a sentiment from its star rating. Its headline follows from
 * what it says, as a real headline does: each sentence a review can open its point with has its
 * own paraphrased headline (never the sentence's first words, so the review's lead is no answer),
 * three-star reviews get "<praise> but <complaint>", and 8% get the star headline ("Five Stars").
 * A model can learn the headline from the body; a constant answer cannot. A few percent of rows
 * carry each kind of mess the real files have: `<br />`, `&#34;`, `[[VIDEOID:...]]`, empty
 * bodies, over-long first sentences, non-ASCII text and rows with a missing or extra tab.
 */
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Command, InvalidArgumentError } from 'commander';
import { AMAZON_TSV_COLUMNS } from '../activities/clean/columns';
import { mulberry32 } from '../lib/seeded-random';
import {
  type Kind,
  CATALOG,
  VARIANTS,
  NOUN,
  ASPECTS,
  ASPECT_TEXT,
  OPENERS,
  POSITIVE_CLOSERS,
  NEGATIVE_CLOSERS,
  MIXED_CLOSERS,
  STAR_HEADLINES,
  STAR_HEADLINE_RATE,
  ENTITY_SENTENCES,
  NON_ASCII_SENTENCES,
  RUN_ON_CLAUSES,
} from './review-texts';

export interface GenerateOptions {
  rows: number;
  products: number;
  seed: number;
}

export type Defect = 'html' | 'entity' | 'video' | 'emptyBody' | 'overlong' | 'nonAscii' | 'missingColumn' | 'extraColumn';

export interface GeneratedReview {
  /** The TSV fields in AMAZON_TSV_COLUMNS order; a row with a column defect has 14 or 16. */
  fields: string[];
  defects: Defect[];
}

/** Probability of each defect per row (independent draws). */
const DEFECT_RATES: Record<Defect, number> = {
  html: 0.05,
  entity: 0.04,
  video: 0.02,
  emptyBody: 0.02,
  overlong: 0.02,
  nonAscii: 0.04,
  missingColumn: 0.015,
  extraColumn: 0.015,
};

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)];
const int = (random: Random, min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
const ALPHANUMERIC = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const code = (random: Random, length: number): string =>
  Array.from({ length }, () => pick(random, ALPHANUMERIC.split(''))).join('');

interface Product {
  id: string;
  parent: string;
  title: string;
  kind: Kind;
  category: string;
  /** Relative review frequency (a few products get most reviews, as in the real data). */
  weight: number;
}

function makeProducts(random: Random, count: number): Product[] {
  const ids = new Set<string>();
  return Array.from({ length: count }, (_, index) => {
    const template = CATALOG[index % CATALOG.length];
    const round = Math.floor(index / CATALOG.length);
    const title = round === 0 ? template.title : `${template.title} ${VARIANTS[(round - 1) % VARIANTS.length]}`;
    let id: string;
    do id = `B00${code(random, 7)}`;
    while (ids.has(id));
    ids.add(id);
    return { id, parent: String(int(random, 100000000, 999999999)), title, kind: template.kind, category: template.category, weight: 1 / (1 + index) ** 0.8 };
  });
}

function pickWeighted(random: Random, products: readonly Product[], totalWeight: number): Product {
  let r = random() * totalWeight;
  for (const product of products) {
    r -= product.weight;
    if (r < 0) return product;
  }
  return products[products.length - 1];
}

/** Star rating distribution of the public camera reviews (skewed to 5). */
function drawRating(random: Random): number {
  const r = random();
  if (r < 0.1) return 1;
  if (r < 0.16) return 2;
  if (r < 0.25) return 3;
  if (r < 0.45) return 4;
  return 5;
}

const fill = (text: string, noun: string) => text.replaceAll('{noun}', noun);
const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

interface ReviewText {
  sentences: string[];
  headline: string;
}

/**
 * A body whose point, its first sentence about the dominant aspect, decides the headline: that
 * sentence's own headline, a mixed one for a three-star review with a complaint, or (rarely) the
 * star headline.
 */
function writeReview(random: Random, product: Product, rating: number): ReviewText {
  const noun = NOUN[product.kind];
  const aspects = ASPECTS[product.kind];
  const dominant = pick(random, aspects);
  const text = ASPECT_TEXT[dominant];
  const positive = rating >= 3;
  const sentences: string[] = [];
  if (random() < 0.25) sentences.push(pick(random, OPENERS));
  const point = pick(random, positive ? text.positive : text.negative);
  sentences.push(point.sentence);
  // The dominant aspect gets a second sentence half the time, so it stays dominant.
  if (random() < 0.5) sentences.push(pick(random, positive ? text.positive : text.negative).sentence);
  const others = aspects.filter((aspect) => aspect !== dominant);
  const secondary = pick(random, others);
  const extra = Math.floor(random() ** 2 * 4);
  for (let i = 0; i < extra; i++) {
    const aspect = i === 0 ? secondary : pick(random, others);
    // Three-star reviews praise the dominant aspect and complain about the secondary one.
    const aspectPositive = rating === 3 ? false : rating === 4 && i === extra - 1 ? random() < 0.5 : positive;
    sentences.push(pick(random, aspectPositive ? ASPECT_TEXT[aspect].positive : ASPECT_TEXT[aspect].negative).sentence);
  }
  if (random() < 0.4) sentences.push(pick(random, rating >= 4 ? POSITIVE_CLOSERS : rating === 3 ? MIXED_CLOSERS : NEGATIVE_CLOSERS));

  let headline: string;
  if (random() < STAR_HEADLINE_RATE) headline = STAR_HEADLINES[rating - 1];
  else if (rating === 3 && extra > 0) headline = capitalize(`${text.positiveShort} but ${ASPECT_TEXT[secondary].negativeShort}`);
  else headline = point.headline;
  return { sentences: [...new Set(sentences)].map((s) => fill(s, noun)), headline: fill(headline, noun) };
}

function runOnSentence(random: Random): string {
  const words: string[] = [];
  while (words.length <= 110) words.push(...pick(random, RUN_ON_CLAUSES).split(' '), 'and');
  return `${capitalize(words.join(' '))} in the end it was fine.`;
}

function drawDefects(random: Random): Defect[] {
  return (Object.keys(DEFECT_RATES) as Defect[]).filter((defect) => random() < DEFECT_RATES[defect]);
}

function isoDate(random: Random): string {
  const day = new Date(Date.UTC(2008, 0, 1) + int(random, 0, 365 * 7) * 86_400_000);
  return day.toISOString().slice(0, 10);
}

/** The reviews, deterministic for given options. */
export function generateReviews(options: GenerateOptions): GeneratedReview[] {
  const random = mulberry32(options.seed);
  const products = makeProducts(random, options.products);
  const totalWeight = products.reduce((sum, p) => sum + p.weight, 0);
  const reviewIds = new Set<string>();
  return Array.from({ length: options.rows }, () => {
    const product = pickWeighted(random, products, totalWeight);
    const rating = drawRating(random);
    const { sentences, headline } = writeReview(random, product, rating);
    const defects = drawDefects(random);
    if (defects.includes('entity')) sentences.splice(int(random, 0, sentences.length), 0, pick(random, ENTITY_SENTENCES));
    if (defects.includes('nonAscii')) sentences.push(pick(random, NON_ASCII_SENTENCES));
    if (defects.includes('overlong')) sentences.unshift(runOnSentence(random));
    let body = defects.includes('html')
      ? sentences.map((s, i) => (i === 0 ? s : `${pick(random, ['<br />', '<br /><br />'])}${s}`)).join('')
      : sentences.join(' ');
    if (defects.includes('video')) body = `[[VIDEOID:${code(random, 14).toLowerCase()}]]${body}`;
    if (defects.includes('emptyBody')) body = '';
    let reviewId: string;
    do reviewId = `R${code(random, 13)}`;
    while (reviewIds.has(reviewId));
    reviewIds.add(reviewId);
    const totalVotes = random() < 0.6 ? 0 : int(random, 1, 40);
    const fields = [
      'US',
      String(int(random, 10000, 53000000)),
      reviewId,
      product.id,
      product.parent,
      product.title,
      product.category,
      String(rating),
      String(int(random, 0, totalVotes)),
      String(totalVotes),
      random() < 0.01 ? 'Y' : 'N',
      random() < 0.85 ? 'Y' : 'N',
      headline,
      body,
      isoDate(random),
    ];
    // Column faults as the raw files have them: a field lost its tab, or a stray tab in the body.
    if (defects.includes('missingColumn')) fields.splice(10, 2, `${fields[10]}${fields[11]}`);
    if (defects.includes('extraColumn')) {
      const bodyIndex = fields.length - 2;
      const space = body.indexOf(' ');
      fields.splice(bodyIndex, 1, ...(space < 0 ? [body, ''] : [body.slice(0, space), body.slice(space + 1)]));
    }
    return { fields, defects };
  });
}

/** The file's text: header, one line per review, trailing newline. */
export function reviewsToTsv(reviews: readonly GeneratedReview[]): string {
  return [AMAZON_TSV_COLUMNS.join('\t'), ...reviews.map((review) => review.fields.join('\t'))].join('\n') + '\n';
}

/** Writes the reviews to `out` (gzip when it ends with .gz) through a temp file, so a crash leaves no half file. */
export async function writeReviews(out: string, options: GenerateOptions): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  const temp = `${out}.tmp-${process.pid}`;
  const file = createWriteStream(temp);
  const sink = out.endsWith('.gz') ? createGzip() : file;
  if (sink !== file) sink.pipe(file);
  try {
    for (const line of [AMAZON_TSV_COLUMNS.join('\t'), ...generateReviews(options).map((review) => review.fields.join('\t'))]) {
      if (!sink.write(`${line}\n`)) await once(sink, 'drain');
    }
    sink.end();
    await finished(file);
    renameSync(temp, out);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError('expected an integer');
  return parsed;
}

async function main(): Promise<void> {
  const options = new Command('generate-reviews')
    .description('Generate demo camera reviews in the Amazon Customer Reviews TSV format')
    .requiredOption('--out <path>', 'output file (.tsv, or .tsv.gz for gzip)')
    .option('--rows <n>', 'number of reviews', positiveInteger, 3000)
    .option('--products <n>', 'number of products', positiveInteger, 60)
    .option('--seed <n>', 'PRNG seed', integer, 7)
    .option('--force', 'overwrite an existing file', false)
    .parse()
    .opts<{ out: string; rows: number; products: number; seed: number; force: boolean }>();
  const out = resolve(options.out);
  if (existsSync(out) && !options.force) {
    console.log(`${out} exists; leaving it as is (pass --force to regenerate)`);
    return;
  }
  await writeReviews(out, options);
  console.log(`wrote ${options.rows} reviews of ${options.products} products to ${out}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
