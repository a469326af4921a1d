/**
 * What the demo generator (generate-reviews.ts) writes reviews from: the product catalog, the
 * aspects each kind of product is reviewed on, and for each aspect the sentences a review makes
 * its point with, each with the headline its reviewer gives it; openers, closers and the sentences
 * that carry the raw files' mess. Data only: the drawing is generate-reviews.ts's.
 */
type Aspect = 'imageQuality' | 'batteryLife' | 'autofocus' | 'lens' | 'build' | 'price' | 'shipping' | 'tripod' | 'memoryCard';
export type Kind = 'camera' | 'action' | 'instant' | 'lens' | 'tripod' | 'battery' | 'card' | 'bag' | 'webcam';

interface ProductTemplate {
  title: string;
  kind: Kind;
  category: string;
}

/** Base catalog; `--products` beyond its size adds colour/bundle variants of these. */
export const CATALOG: readonly ProductTemplate[] = [
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

export const VARIANTS = ['(Black)', '(Silver)', '- International Version', 'Bundle with Case and 32GB Card', '(Renewed)', '(White)'];

export const NOUN: Record<Kind, string> = {
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
export const ASPECTS: Record<Kind, readonly Aspect[]> = {
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
export const ASPECT_TEXT: Record<Aspect, AspectText> = {
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

export const OPENERS = [
  'I bought this {noun} for a trip to Italy.',
  'Bought this for my daughter who is learning photography.',
  'I have been using this {noun} for about a month now.',
  'This replaced my old {noun}.',
  'Got this as a gift for my husband.',
  'I use it mostly for family pictures and vacations.',
];
export const POSITIVE_CLOSERS = ['Highly recommend.', 'Would buy again.', 'Love it!', 'Very happy with this purchase.', 'Five stars from me.'];
export const NEGATIVE_CLOSERS = ['Returned it.', 'Save your money.', 'Very disappointed.', 'Do not buy.', 'I want a refund.'];
export const MIXED_CLOSERS = ['It is OK for the price.', 'Good but not great.', 'Decent for a beginner.'];
export const STAR_HEADLINES = ['One Star', 'Two Stars', 'Three Stars', 'Four Stars', 'Five Stars'];
// Share of reviews headlined with their star rating, as Amazon's prompt "Five Stars" titles some.
export const STAR_HEADLINE_RATE = 0.08;
export const ENTITY_SENTENCES = [
  'The &#34;auto&#34; mode works well for snapshots.',
  'I didn&#39;t expect the &#34;night&#34; setting to be this good.',
  'It says &#34;professional&#34; on the box.',
  'The manual calls it &#34;easy to use&#34;, and it is.',
];
export const NON_ASCII_SENTENCES = [
  'Très bonne qualité d\'image.',
  'Für den Preis super!',
  '最高のカメラです。',
  'Love it 📷👍',
  'Naïve me thought the café lighting would be enough.',
  'Excelente cámara, muy fácil de usar.',
  'Bought it in Zürich, works perfectly 😊',
];
export const RUN_ON_CLAUSES = [
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
