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

/**
 * A sentence a review can make its point with, and the headline its reviewer gives it: a short
 * paraphrase, as real headlines are, not the sentence's first words.
 */
interface Point {
  sentence: string;
  headline: string;
}

interface AspectText {
  positive: readonly Point[];
  negative: readonly Point[];
  /** Short phrases for mixed (three-star) headlines: "Sharp pictures but weak battery". */
  positiveShort: string;
  negativeShort: string;
}

/** `{noun}` is the product noun (camera, lens, tripod, ...). */
const ASPECT_TEXT: Record<Aspect, AspectText> = {
  imageQuality: {
    positive: [
      { sentence: 'The pictures are sharp and the colors are accurate.', headline: 'Sharp pictures, true colors' },
      { sentence: 'Image quality is excellent, even indoors.', headline: 'Great pictures even indoors' },
      { sentence: 'Photos come out crisp with great detail.', headline: 'Crisp, detailed photos' },
      { sentence: 'Low light shots are surprisingly clean with very little noise.', headline: 'Clean shots in low light' },
      { sentence: 'The video quality is stunning in daylight.', headline: 'Stunning video in daylight' },
      { sentence: 'My photos have never looked this good.', headline: 'Best photos I have ever taken' },
    ],
    negative: [
      { sentence: 'The pictures are blurry unless the light is perfect.', headline: 'Blurry pictures in normal light' },
      { sentence: 'Photos in low light are grainy and full of noise.', headline: 'Grainy, noisy low light photos' },
      { sentence: 'Image quality is worse than my phone.', headline: 'My phone takes better pictures' },
      { sentence: 'Colors look washed out and the images are soft.', headline: 'Soft, washed out images' },
      { sentence: 'Video is choppy and the picture is dark indoors.', headline: 'Choppy, dark indoor video' },
      { sentence: 'Every indoor photo came out blurry.', headline: 'Blurry indoor photos' },
    ],
    positiveShort: 'sharp pictures',
    negativeShort: 'blurry pictures',
  },
  batteryLife: {
    positive: [
      { sentence: 'Battery life is great, I shot all day on one charge.', headline: 'Shoots all day on one charge' },
      { sentence: 'The battery lasts much longer than I expected.', headline: 'Longer battery life than expected' },
      { sentence: 'It holds a charge for weeks.', headline: 'Keeps its charge for weeks' },
      { sentence: 'I got over 600 shots on a single charge.', headline: '600 shots per charge' },
      { sentence: 'Charges quickly and lasts all day.', headline: 'Quick to charge, lasts all day' },
    ],
    negative: [
      { sentence: 'The battery dies after about an hour.', headline: 'Dead within an hour' },
      { sentence: 'Battery life is terrible, I need three spares for a day out.', headline: 'Terrible battery, buy spares' },
      { sentence: 'It would not hold a charge after two weeks.', headline: 'Stopped holding a charge' },
      { sentence: 'The battery drains even when the {noun} is off.', headline: 'Battery drains when off' },
      { sentence: 'Stopped charging after a month.', headline: 'Would not charge after a month' },
    ],
    positiveShort: 'long battery life',
    negativeShort: 'weak battery',
  },
  autofocus: {
    positive: [
      { sentence: 'The autofocus is fast and accurate.', headline: 'Fast, accurate autofocus' },
      { sentence: 'Focus locks on instantly, even on moving subjects.', headline: 'Instant focus on moving subjects' },
      { sentence: 'Autofocus tracks my kids running around without a problem.', headline: 'Keeps up with my kids' },
      { sentence: 'Focusing is quick and quiet.', headline: 'Quick, quiet focusing' },
    ],
    negative: [
      { sentence: 'The autofocus hunts constantly and misses the shot.', headline: 'Autofocus hunts and misses' },
      { sentence: 'Focus is slow and often locks on the background.', headline: 'Slow focus, locks on the background' },
      { sentence: 'Autofocus is noisy and useless for video.', headline: 'Noisy autofocus, useless for video' },
      { sentence: 'It struggles to focus in anything but bright light.', headline: 'Cannot focus in dim light' },
    ],
    positiveShort: 'fast autofocus',
    negativeShort: 'slow autofocus',
  },
  lens: {
    positive: [
      { sentence: 'The lens is tack sharp wide open.', headline: 'Tack sharp wide open' },
      { sentence: 'Beautiful bokeh from this lens.', headline: 'Lovely bokeh' },
      { sentence: 'The zoom range is perfect for travel.', headline: 'Perfect travel zoom' },
      { sentence: 'The kit lens is better than I expected.', headline: 'Better kit lens than expected' },
      { sentence: 'Sharp from corner to corner with no distortion.', headline: 'Sharp corners, no distortion' },
    ],
    negative: [
      { sentence: 'The lens is soft at the edges.', headline: 'Soft edges' },
      { sentence: 'The zoom ring is stiff and the lens creeps.', headline: 'Stiff zoom ring, lens creep' },
      { sentence: 'There is a lot of chromatic aberration.', headline: 'Lots of chromatic aberration' },
      { sentence: 'The kit lens is very limited.', headline: 'Limited kit lens' },
      { sentence: 'My copy of the lens was decentered.', headline: 'Got a decentered copy' },
    ],
    positiveShort: 'sharp lens',
    negativeShort: 'soft lens',
  },
  build: {
    positive: [
      { sentence: 'The {noun} feels solid and well made.', headline: 'Solid, well made {noun}' },
      { sentence: 'Build quality is excellent.', headline: 'Excellent build' },
      { sentence: 'It survived a drop on the trail without a scratch.', headline: 'Survived a drop' },
      { sentence: 'Sturdy, light and comfortable to carry.', headline: 'Light and sturdy' },
      { sentence: 'The materials feel premium.', headline: 'Premium materials' },
    ],
    negative: [
      { sentence: 'The {noun} feels cheap and plasticky.', headline: 'Cheap, plasticky {noun}' },
      { sentence: 'It broke after two weeks.', headline: 'Broken in two weeks' },
      { sentence: 'The strap attachment snapped on the first day.', headline: 'Strap snapped on day one' },
      { sentence: 'The zipper broke the first time I used it.', headline: 'Zipper broke on first use' },
      { sentence: 'Buttons are flimsy and the door will not stay shut.', headline: 'Flimsy buttons and door' },
    ],
    positiveShort: 'solid build',
    negativeShort: 'flimsy build',
  },
  price: {
    positive: [
      { sentence: 'Great {noun} for the price.', headline: 'Great value for a {noun}' },
      { sentence: 'Excellent value for the money.', headline: 'Great value' },
      { sentence: 'You can not beat this {noun} at this price.', headline: 'Unbeatable price' },
      { sentence: 'Half the price of the name brand and just as good.', headline: 'As good as the name brand' },
      { sentence: 'Worth every penny.', headline: 'Money well spent' },
    ],
    negative: [
      { sentence: 'Way overpriced for what you get.', headline: 'Overpriced' },
      { sentence: 'Not worth the money.', headline: 'Waste of money' },
      { sentence: 'You can get a better {noun} for less.', headline: 'Better {noun}s cost less' },
      { sentence: 'Too expensive for this quality.', headline: 'Poor quality for the price' },
    ],
    positiveShort: 'good value',
    negativeShort: 'overpriced',
  },
  shipping: {
    positive: [
      { sentence: 'It arrived two days early and well packed.', headline: 'Arrived early, well packed' },
      { sentence: 'Shipping was fast.', headline: 'Fast shipping' },
      { sentence: 'Arrived quickly and exactly as described.', headline: 'Exactly as described' },
      { sentence: 'Came well packaged with everything included.', headline: 'Everything included' },
    ],
    negative: [
      { sentence: 'It arrived late and the box was crushed.', headline: 'Late, crushed box' },
      { sentence: 'Shipping took three weeks.', headline: 'Three weeks to arrive' },
      { sentence: 'The package arrived damaged and missing the charger.', headline: 'Damaged, no charger' },
      { sentence: 'I received a used item with scratches on it.', headline: 'Sold a used item' },
    ],
    positiveShort: 'fast shipping',
    negativeShort: 'damaged box',
  },
  tripod: {
    positive: [
      { sentence: 'The tripod is steady even in wind.', headline: 'Steady in the wind' },
      { sentence: 'The legs extend quickly and lock tight.', headline: 'Legs lock tight' },
      { sentence: 'The head moves smoothly and holds my camera steady.', headline: 'Smooth, steady head' },
      { sentence: 'Light enough to hike with and still stable.', headline: 'Light, stable hiking tripod' },
    ],
    negative: [
      { sentence: 'The tripod wobbles with anything heavier than a phone.', headline: 'Wobbly tripod' },
      { sentence: 'The leg locks slip and the camera slowly sinks.', headline: 'Leg locks slip' },
      { sentence: 'The head will not hold my DSLR level.', headline: 'Head droops under a DSLR' },
      { sentence: 'The quick release plate is loose.', headline: 'Loose quick release plate' },
    ],
    positiveShort: 'stable tripod',
    negativeShort: 'wobbly tripod',
  },
  memoryCard: {
    positive: [
      { sentence: 'The card is fast enough for 4K video.', headline: 'Fast enough for 4K' },
      { sentence: 'Write speeds are great for burst shooting.', headline: 'Great for burst shooting' },
      { sentence: 'The card has been reliable for thousands of shots.', headline: 'Reliable card' },
      { sentence: 'Transfers to my computer are fast.', headline: 'Fast transfers' },
    ],
    negative: [
      { sentence: 'The card failed and I lost all my photos.', headline: 'Lost all my photos' },
      { sentence: 'The card is too slow for 4K video.', headline: 'Too slow for 4K' },
      { sentence: 'My camera says the card is corrupted.', headline: 'Corrupted card' },
      { sentence: 'The card stopped being recognized after a week.', headline: 'Not recognized after a week' },
    ],
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
// Share of reviews headlined with their star rating, as Amazon's prompt "Five Stars" titles some.
const STAR_HEADLINE_RATE = 0.08;
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
