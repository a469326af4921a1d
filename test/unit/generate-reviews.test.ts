/**
 * The demo data generator (scripts/generate-reviews.ts): deterministic, the products and categories
 * asked for, headlines that follow the rating and paraphrase what the review says.
 */
import { generateReviews, type GeneratedReview } from '../../scripts/generate-reviews';

const COLUMNS = 15;
const wellFormed = (review: GeneratedReview) => review.fields.length === COLUMNS;
const field = (review: GeneratedReview, index: number) => review.fields[index];
const [REVIEW_ID, CATEGORY, RATING, HEADLINE, BODY] = [2, 6, 7, 12, 13];

describe('generateReviews', () => {
  test('is deterministic for a seed', () => {
    const options = { rows: 200, products: 60, seed: 7 };
    expect(generateReviews(options)).toEqual(generateReviews(options));
    expect(generateReviews({ ...options, seed: 8 })).not.toEqual(generateReviews(options));
  });

  test('covers the requested products, mostly Camera, with unique review ids', () => {
    const reviews = generateReviews({ rows: 3000, products: 60, seed: 7 }).filter(wellFormed);
    const products = new Set(reviews.map((review) => field(review, 3)));
    expect(products.size).toBeGreaterThanOrEqual(50);
    expect([...products].every((id) => /^B00[0-9A-Z]{7}$/.test(id))).toBe(true);
    const camera = reviews.filter((review) => field(review, CATEGORY) === 'Camera').length;
    expect(camera / reviews.length).toBeGreaterThan(0.85);
    expect(camera).toBeLessThan(reviews.length);
    expect(new Set(reviews.map((review) => field(review, REVIEW_ID))).size).toBe(reviews.length);
  });

  test('headlines follow the rating', () => {
    const reviews = generateReviews({ rows: 3000, products: 60, seed: 7 }).filter(wellFormed);
    const negativeHeadline =
      /blurry|grainy|better pictures|soft|choppy|dead|terrible|stopped|drains|would not|hunts|slow|noisy|cannot|stiff|aberration|limited|decentered|cheap|broke|snapped|flimsy|overpriced|waste|cost less|poor quality|late|three weeks|damaged|used item|wobbly|slip|droops|loose|lost|corrupted|not recognized|one star|two stars/i;
    for (const review of reviews) {
      const rating = Number(field(review, RATING));
      if (rating >= 4) expect(field(review, HEADLINE)).not.toMatch(negativeHeadline);
      if (rating <= 2) expect(field(review, HEADLINE)).toMatch(negativeHeadline);
    }
  });

  test('headlines follow from what the review says, and are not its first words', () => {
    const reviews = generateReviews({ rows: 3000, products: 60, seed: 7 }).filter((review) => wellFormed(review) && review.defects.length === 0);
    const isStarHeadline = (review: GeneratedReview) => /^(One Star|(Two|Three|Four|Five) Stars)$/.test(field(review, HEADLINE));
    const starShare = reviews.filter(isStarHeadline).length / reviews.length;
    expect(starShare).toBeGreaterThan(0.05);
    expect(starShare).toBeLessThan(0.11);
    const words = (text: string) => text.toLowerCase().replace(/[^a-z0-9 ]/g, '').split(' ');
    for (const review of reviews) {
      const headline = words(field(review, HEADLINE));
      expect(words(field(review, BODY)).slice(0, headline.length)).not.toEqual(headline);
    }
    // The same body gives the same headline (star headlines and mixed three-star ones aside).
    const headlineOf = new Map<string, string>();
    let repeated = 0;
    for (const review of reviews.filter((r) => !isStarHeadline(r) && field(r, RATING) !== '3')) {
      const seen = headlineOf.get(field(review, BODY));
      if (seen === undefined) headlineOf.set(field(review, BODY), field(review, HEADLINE));
      else {
        expect(field(review, HEADLINE)).toBe(seen);
        repeated++;
      }
    }
    expect(repeated).toBeGreaterThan(50);
  });
});
