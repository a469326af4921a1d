/**
 * Generates demo camera reviews in the Amazon Customer Reviews TSV format, deterministically.
 *
 *   bin/ts-run scripts/generate-reviews.ts --out data/demo/camera_reviews.tsv.gz --rows 3000 --products 60 --seed 7
 *
 * Each review has a dominant aspect (image quality, battery life, autofocus, lens, build, price,
 * shipping, tripod, memory card) and a sentiment from its star rating; the headline is drawn from
 * the same aspect and sentiment (or is the star headline, "Five Stars", as Amazon's often are), so
 * a model can learn the headline from the body. A few percent of rows carry each kind of mess the
 * real files have: `<br />`, `&#34;`, `[[VIDEOID:...]]`, empty bodies, over-long first sentences,
 * non-ASCII text and rows with a missing or extra tab.
 */
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Command, InvalidArgumentError } from 'commander';
import { AMAZON_TSV_COLUMNS } from '../activities/clean/columns';
import { mulberry32 } from '../lib/seeded-random';

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

type Aspect = 'imageQuality' | 'batteryLife' | 'autofocus' | 'lens' | 'build' | 'price' | 'shipping' | 'tripod' | 'memoryCard';
type Kind = 'camera' | 'action' | 'instant' | 'lens' | 'tripod' | 'battery' | 'card' | 'bag' | 'webcam';

interface ProductTemplate {
  title: string;
  kind: Kind;
  category: string;
}

/** Base catalog; `--products` beyond its size adds colour/bundle variants of these. */
const CATALOG: readonly ProductTemplate[] = [
  { title: 'Canon EOS Rebel T6 DSLR Camera Kit with EF-S 18-55mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Canon EOS Rebel T7i DSLR Camera with 18-55mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Canon EOS 80D Digital SLR Kit with EF-S 18-135mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Nikon D3400 DSLR Camera with AF-P DX NIKKOR 18-55mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Nikon D5300 24.2 MP CMOS Digital SLR Camera', kind: 'camera', category: 'Camera' },
  { title: 'Nikon D7200 DX-format DSLR Body', kind: 'camera', category: 'Camera' },
  { title: 'Sony Alpha a6000 Mirrorless Digital Camera with 16-50mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Sony Alpha a7 III Full-Frame Mirrorless Camera Body', kind: 'camera', category: 'Camera' },
  { title: 'Fujifilm X-T20 Mirrorless Digital Camera with XC16-50mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Olympus OM-D E-M10 Mark II Mirrorless Camera Kit', kind: 'camera', category: 'Camera' },
  { title: 'Panasonic LUMIX G7 4K Mirrorless Camera with 14-42mm Lens', kind: 'camera', category: 'Camera' },
  { title: 'Canon PowerShot SX620 HS Digital Camera', kind: 'camera', category: 'Camera' },
  { title: 'Canon PowerShot ELPH 180 Digital Camera', kind: 'camera', category: 'Camera' },
  { title: 'Sony Cyber-shot DSC-W800 Digital Camera', kind: 'camera', category: 'Camera' },
  { title: 'Sony Cyber-shot DSC-RX100 Digital Camera', kind: 'camera', category: 'Camera' },
  { title: 'Nikon COOLPIX B500 Digital Camera', kind: 'camera', category: 'Camera' },
  { title: 'Nikon COOLPIX P900 Digital Camera with 83x Optical Zoom', kind: 'camera', category: 'Camera' },
  { title: 'Kodak PIXPRO FZ53 16.15MP Digital Camera', kind: 'camera', category: 'Camera' },
  { title: 'Panasonic LUMIX ZS70 20.3MP Travel Camera', kind: 'camera', category: 'Camera' },
  { title: 'GoPro HERO5 Black Waterproof Digital Action Camera', kind: 'action', category: 'Camera' },
  { title: 'GoPro HERO Session Waterproof HD Action Camera', kind: 'action', category: 'Camera' },
  { title: 'AKASO EK7000 4K WiFi Sports Action Camera', kind: 'action', category: 'Camera' },
  { title: 'DJI Osmo Action 4K Camera', kind: 'action', category: 'Camera' },
  { title: 'Fujifilm Instax Mini 9 Instant Camera', kind: 'instant', category: 'Camera' },
  { title: 'Polaroid Snap Instant Digital Camera', kind: 'instant', category: 'Camera' },
  { title: 'Kodak Printomatic Digital Instant Print Camera', kind: 'instant', category: 'Camera' },
  { title: 'Canon EF 50mm f/1.8 STM Lens', kind: 'lens', category: 'Camera' },
  { title: 'Canon EF 75-300mm f/4-5.6 III Telephoto Zoom Lens', kind: 'lens', category: 'Camera' },
  { title: 'Nikon AF-S DX NIKKOR 35mm f/1.8G Lens', kind: 'lens', category: 'Camera' },
  { title: 'Nikon AF-P DX NIKKOR 70-300mm f/4.5-6.3G ED Lens', kind: 'lens', category: 'Camera' },
  { title: 'Sigma 18-35mm F1.8 Art DC HSM Lens for Canon', kind: 'lens', category: 'Camera' },
  { title: 'Tamron 70-300mm f/4-5.6 Di LD Macro Zoom Lens for Nikon', kind: 'lens', category: 'Camera' },
  { title: 'Rokinon 14mm F2.8 Ultra Wide Angle Fixed Lens', kind: 'lens', category: 'Camera' },
  { title: 'Sony E 50mm F1.8 OSS Lens', kind: 'lens', category: 'Camera' },
  { title: 'AmazonBasics 60-Inch Lightweight Tripod with Bag', kind: 'tripod', category: 'Camera' },
  { title: 'Manfrotto Compact Action Aluminium Tripod with Hybrid Head', kind: 'tripod', category: 'Camera' },
  { title: 'Joby GorillaPod 3K Flexible Tripod Kit', kind: 'tripod', category: 'Camera' },
  { title: 'Vanguard Alta Pro 263AB Aluminum Tripod', kind: 'tripod', category: 'Camera' },
  { title: 'Ubeesize 12-Inch Phone and Camera Tripod', kind: 'tripod', category: 'Camera' },
  { title: 'Wasabi Power Battery (2-Pack) and Dual Charger for Canon LP-E17', kind: 'battery', category: 'Camera' },
  { title: 'Canon LP-E6N Lithium-Ion Battery Pack', kind: 'battery', category: 'Camera' },
  { title: 'Nikon EN-EL14a Rechargeable Li-ion Battery', kind: 'battery', category: 'Camera' },
  { title: 'Powerextra 2 Pack Replacement Battery for Sony NP-FW50', kind: 'battery', category: 'Camera' },
  { title: 'SanDisk Extreme 64GB SDXC UHS-I Memory Card', kind: 'card', category: 'Camera' },
  { title: 'Lexar Professional 633x 32GB SDHC UHS-I Card', kind: 'card', category: 'Camera' },
  { title: 'Transcend 64GB SDXC Class 10 UHS-I Memory Card', kind: 'card', category: 'Camera' },
  { title: 'Lowepro Slingshot Edge 250 AW Camera Backpack', kind: 'bag', category: 'Camera' },
  { title: 'AmazonBasics Large DSLR Gadget Bag', kind: 'bag', category: 'Camera' },
  { title: 'Neewer Camera Shoulder Bag with Rain Cover', kind: 'bag', category: 'Camera' },
  { title: 'Peak Design Everyday Sling 5L Camera Bag', kind: 'bag', category: 'Camera' },
  { title: 'Case Logic DCB-304 Compact System Camera Case', kind: 'bag', category: 'Camera' },
  // A few products from other categories, as the public files hold (the `category` filter drops them).
  { title: 'SanDisk Ultra 32GB microSDHC UHS-I Card with Adapter', kind: 'card', category: 'PC' },
  { title: 'Samsung EVO Select 128GB microSDXC Memory Card', kind: 'card', category: 'PC' },
  { title: 'Logitech C920 HD Pro Webcam', kind: 'webcam', category: 'PC' },
  { title: 'Microsoft LifeCam HD-3000 Webcam', kind: 'webcam', category: 'Electronics' },
  { title: 'Anker PowerCore 10000 Portable Charger Battery', kind: 'battery', category: 'Wireless' },
];

const VARIANTS = ['(Black)', '(Silver)', '- International Version', 'Bundle with Case and 32GB Card', '(Renewed)', '(White)'];

const NOUN: Record<Kind, string> = {
  camera: 'camera',
  action: 'camera',
  instant: 'camera',
  lens: 'lens',
  tripod: 'tripod',
  battery: 'battery',
  card: 'card',
  bag: 'bag',
  webcam: 'webcam',
};

/** Aspects a review of each kind of product talks about, the first ones most often. */
const ASPECTS: Record<Kind, readonly Aspect[]> = {
  camera: ['imageQuality', 'imageQuality', 'price', 'batteryLife', 'autofocus', 'lens', 'build', 'shipping', 'memoryCard'],
  action: ['imageQuality', 'batteryLife', 'price', 'build', 'memoryCard', 'shipping'],
  instant: ['imageQuality', 'price', 'build', 'shipping'],
  lens: ['lens', 'imageQuality', 'autofocus', 'price', 'build', 'shipping'],
  tripod: ['tripod', 'tripod', 'build', 'price', 'shipping'],
  battery: ['batteryLife', 'batteryLife', 'price', 'build', 'shipping'],
  card: ['memoryCard', 'memoryCard', 'price', 'shipping'],
  bag: ['build', 'build', 'price', 'shipping'],
  webcam: ['imageQuality', 'autofocus', 'price', 'build', 'shipping'],
};

interface AspectText {
  positive: readonly string[];
  negative: readonly string[];
  positiveHeadlines: readonly string[];
  negativeHeadlines: readonly string[];
  /** Short phrases for mixed (three-star) headlines: "Sharp pictures but weak battery". */
  positiveShort: string;
  negativeShort: string;
}

/** `{noun}` is the product noun (camera, lens, tripod, ...). */
const ASPECT_TEXT: Record<Aspect, AspectText> = {
  imageQuality: {
    positive: [
      'The pictures are sharp and the colors are accurate.',
      'Image quality is excellent, even indoors.',
      'Photos come out crisp with great detail.',
      'Low light shots are surprisingly clean with very little noise.',
      'The video quality is stunning in daylight.',
      'My photos have never looked this good.',
    ],
    negative: [
      'The pictures are blurry unless the light is perfect.',
      'Photos in low light are grainy and full of noise.',
      'Image quality is worse than my phone.',
      'Colors look washed out and the images are soft.',
      'Video is choppy and the picture is dark indoors.',
      'Every indoor photo came out blurry.',
    ],
    positiveHeadlines: ['Great image quality', 'Sharp, beautiful pictures', 'Amazing photos', 'Excellent picture quality', 'Stunning photos in any light'],
    negativeHeadlines: ['Blurry photos in low light', 'Poor image quality', 'Grainy pictures', 'Photos are soft and washed out', 'Worse than my phone camera'],
    positiveShort: 'sharp pictures',
    negativeShort: 'blurry pictures',
  },
  batteryLife: {
    positive: [
      'Battery life is great, I shot all day on one charge.',
      'The battery lasts much longer than I expected.',
      'It holds a charge for weeks.',
      'I got over 600 shots on a single charge.',
      'Charges quickly and lasts all day.',
    ],
    negative: [
      'The battery dies after about an hour.',
      'Battery life is terrible, I need three spares for a day out.',
      'It would not hold a charge after two weeks.',
      'The battery drains even when the {noun} is off.',
      'Stopped charging after a month.',
    ],
    positiveHeadlines: ['Great battery life', 'Battery lasts all day', 'Long lasting battery', 'Holds a charge'],
    negativeHeadlines: ['Battery dies fast', 'Poor battery life', 'Will not hold a charge', 'Battery drains quickly'],
    positiveShort: 'long battery life',
    negativeShort: 'weak battery',
  },
  autofocus: {
    positive: [
      'The autofocus is fast and accurate.',
      'Focus locks on instantly, even on moving subjects.',
      'Autofocus tracks my kids running around without a problem.',
      'Focusing is quick and quiet.',
    ],
    negative: [
      'The autofocus hunts constantly and misses the shot.',
      'Focus is slow and often locks on the background.',
      'Autofocus is noisy and useless for video.',
      'It struggles to focus in anything but bright light.',
    ],
    positiveHeadlines: ['Fast, accurate autofocus', 'Autofocus is excellent', 'Quick focus'],
    negativeHeadlines: ['Autofocus is slow', 'Focus problems', 'Autofocus keeps hunting'],
    positiveShort: 'fast autofocus',
    negativeShort: 'slow autofocus',
  },
  lens: {
    positive: [
      'The lens is tack sharp wide open.',
      'Beautiful bokeh from this lens.',
      'The zoom range is perfect for travel.',
      'The kit lens is better than I expected.',
      'Sharp from corner to corner with no distortion.',
    ],
    negative: [
      'The lens is soft at the edges.',
      'The zoom ring is stiff and the lens creeps.',
      'There is a lot of chromatic aberration.',
      'The kit lens is very limited.',
      'My copy of the lens was decentered.',
    ],
    positiveHeadlines: ['Sharp lens', 'Great lens for the money', 'Beautiful bokeh', 'Perfect travel zoom'],
    negativeHeadlines: ['Soft lens', 'Disappointing lens', 'Lens is not sharp', 'Bad copy of the lens'],
    positiveShort: 'sharp lens',
    negativeShort: 'soft lens',
  },
  build: {
    positive: [
      'The {noun} feels solid and well made.',
      'Build quality is excellent.',
      'It survived a drop on the trail without a scratch.',
      'Sturdy, light and comfortable to carry.',
      'The materials feel premium.',
    ],
    negative: [
      'The {noun} feels cheap and plasticky.',
      'It broke after two weeks.',
      'The strap attachment snapped on the first day.',
      'The zipper broke the first time I used it.',
      'Buttons are flimsy and the door will not stay shut.',
    ],
    positiveHeadlines: ['Solid build quality', 'Well made', 'Built to last', 'Sturdy and well made'],
    negativeHeadlines: ['Cheaply made', 'Broke after two weeks', 'Flimsy', 'Poor build quality'],
    positiveShort: 'solid build',
    negativeShort: 'flimsy build',
  },
  price: {
    positive: [
      'Great {noun} for the price.',
      'Excellent value for the money.',
      'You can not beat this {noun} at this price.',
      'Half the price of the name brand and just as good.',
      'Worth every penny.',
    ],
    negative: [
      'Way overpriced for what you get.',
      'Not worth the money.',
      'You can get a better {noun} for less.',
      'Too expensive for this quality.',
    ],
    positiveHeadlines: ['Great value', 'Great {noun} for the price', 'Worth every penny', 'Best bang for the buck'],
    negativeHeadlines: ['Overpriced', 'Not worth the money', 'Waste of money'],
    positiveShort: 'good value',
    negativeShort: 'overpriced',
  },
  shipping: {
    positive: [
      'It arrived two days early and well packed.',
      'Shipping was fast.',
      'Arrived quickly and exactly as described.',
      'Came well packaged with everything included.',
    ],
    negative: [
      'It arrived late and the box was crushed.',
      'Shipping took three weeks.',
      'The package arrived damaged and missing the charger.',
      'I received a used item with scratches on it.',
    ],
    positiveHeadlines: ['Fast shipping', 'Arrived quickly', 'As described, fast delivery'],
    negativeHeadlines: ['Arrived damaged', 'Slow shipping', 'Received a used item', 'Missing parts'],
    positiveShort: 'fast shipping',
    negativeShort: 'damaged box',
  },
  tripod: {
    positive: [
      'The tripod is steady even in wind.',
      'The legs extend quickly and lock tight.',
      'The head moves smoothly and holds my camera steady.',
      'Light enough to hike with and still stable.',
    ],
    negative: [
      'The tripod wobbles with anything heavier than a phone.',
      'The leg locks slip and the camera slowly sinks.',
      'The head will not hold my DSLR level.',
      'The quick release plate is loose.',
    ],
    positiveHeadlines: ['Stable tripod', 'Sturdy tripod', 'Great tripod for travel', 'Rock solid'],
    negativeHeadlines: ['Wobbly tripod', 'Not stable', 'Legs slip', 'Flimsy tripod'],
    positiveShort: 'stable tripod',
    negativeShort: 'wobbly tripod',
  },
  memoryCard: {
    positive: [
      'The card is fast enough for 4K video.',
      'Write speeds are great for burst shooting.',
      'The card has been reliable for thousands of shots.',
      'Transfers to my computer are fast.',
    ],
    negative: [
      'The card failed and I lost all my photos.',
      'The card is too slow for 4K video.',
      'My camera says the card is corrupted.',
      'The card stopped being recognized after a week.',
    ],
    positiveHeadlines: ['Fast and reliable card', 'Great memory card', 'Fast card for 4K video'],
    negativeHeadlines: ['Card failed, lost my photos', 'Corrupted card', 'Too slow for 4K'],
    positiveShort: 'fast card',
    negativeShort: 'unreliable card',
  },
};

const OPENERS = [
  'I bought this {noun} for a trip to Italy.',
  'Bought this for my daughter who is learning photography.',
  'I have been using this {noun} for about a month now.',
  'This replaced my old {noun}.',
  'Got this as a gift for my husband.',
  'I use it mostly for family pictures and vacations.',
];
const POSITIVE_CLOSERS = ['Highly recommend.', 'Would buy again.', 'Love it!', 'Very happy with this purchase.', 'Five stars from me.'];
const NEGATIVE_CLOSERS = ['Returned it.', 'Save your money.', 'Very disappointed.', 'Do not buy.', 'I want a refund.'];
const MIXED_CLOSERS = ['It is OK for the price.', 'Good but not great.', 'Decent for a beginner.'];
const STAR_HEADLINES = ['One Star', 'Two Stars', 'Three Stars', 'Four Stars', 'Five Stars'];
const ENTITY_SENTENCES = [
  'The &#34;auto&#34; mode works well for snapshots.',
  'I didn&#39;t expect the &#34;night&#34; setting to be this good.',
  'It says &#34;professional&#34; on the box.',
  'The manual calls it &#34;easy to use&#34;, and it is.',
];
const NON_ASCII_SENTENCES = [
  'Très bonne qualité d\'image.',
  'Für den Preis super!',
  '最高のカメラです。',
  'Love it 📷👍',
  'Naïve me thought the café lighting would be enough.',
  'Excelente cámara, muy fácil de usar.',
  'Bought it in Zürich, works perfectly 😊',
];
const RUN_ON_CLAUSES = [
  'i took it on vacation',
  'we went to the beach and the mountains',
  'the kids were running around all day',
  'my old camera had died the week before',
  'i did not have time to read the manual',
  'the weather was cloudy most of the time',
  'i tried every mode on the dial',
  'my wife wanted pictures of everything',
  'the battery indicator kept blinking',
  'i shot mostly in automatic',
];

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

/** A body whose dominant aspect and sentiment decide the headline. */
function writeReview(random: Random, product: Product, rating: number): ReviewText {
  const noun = NOUN[product.kind];
  const aspects = ASPECTS[product.kind];
  const dominant = pick(random, aspects);
  const text = ASPECT_TEXT[dominant];
  const positive = rating >= 3;
  const sentences: string[] = [];
  if (random() < 0.25) sentences.push(pick(random, OPENERS));
  sentences.push(pick(random, positive ? text.positive : text.negative));
  // The dominant aspect gets a second sentence half the time, so it stays dominant.
  if (random() < 0.5) sentences.push(pick(random, positive ? text.positive : text.negative));
  const others = aspects.filter((aspect) => aspect !== dominant);
  const secondary = pick(random, others);
  const extra = Math.floor(random() ** 2 * 4);
  for (let i = 0; i < extra; i++) {
    const aspect = i === 0 ? secondary : pick(random, others);
    // Three-star reviews praise the dominant aspect and complain about the secondary one.
    const aspectPositive = rating === 3 ? false : rating === 4 && i === extra - 1 ? random() < 0.5 : positive;
    sentences.push(pick(random, aspectPositive ? ASPECT_TEXT[aspect].positive : ASPECT_TEXT[aspect].negative));
  }
  if (random() < 0.4) sentences.push(pick(random, rating >= 4 ? POSITIVE_CLOSERS : rating === 3 ? MIXED_CLOSERS : NEGATIVE_CLOSERS));

  const r = random();
  let headline: string;
  if (r < 0.2) headline = STAR_HEADLINES[rating - 1];
  else if (rating === 3 && extra > 0) headline = capitalize(`${text.positiveShort} but ${ASPECT_TEXT[secondary].negativeShort}`);
  else headline = pick(random, positive ? text.positiveHeadlines : text.negativeHeadlines);
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
