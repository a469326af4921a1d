/**
 * The seed notebook's text cleaning, ported exactly (golden tests in test/unit/cleaning.test.ts
 * were produced by running the seed's Python), and the per-review hash that sampling and the
 * train/validation split use.
 *
 * The seed's Python:
 *   remove_regex = re.compile(r"(&[#0-9]+;|<[^>]+>|\[\[[^\]]+\]\]|[\r\n]+)")
 *   split_regex = re.compile(r"([?!.]\s+)")
 *   def clean_text(text, max_tokens):
 *     if not text: return ""
 *     text = remove_regex.sub(" ", text.strip()).strip()
 *     approx_tokens = 0; cleaned = ""
 *     for fragment in split_regex.split(text):
 *       approx_tokens += len(fragment.split(" "))
 *       if (approx_tokens > max_tokens): break
 *       cleaned += fragment
 *     return cleaned.strip()
 */
import { hash } from 'node:crypto';

/**
 * Python's whitespace (`\s` of a str pattern, and what `str.strip()` removes; the two sets are
 * equal). JS `\s` and `String.prototype.trim` differ from it: they lack U+001C..U+001F and U+0085
 * (NEL) and add U+FEFF (BOM). So neither is used here; this class reproduces Python.
 */
const PY_WHITESPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WHITESPACE_CHAR = new RegExp(`[${PY_WHITESPACE}]`);

/** `&#NNN;` entities, HTML tags, `[[VIDEOID:...]]` markup and line breaks, each replaced by a space. */
const REMOVE_PATTERN = /(&[#0-9]+;|<[^>]+>|\[\[[^\]]+\]\]|[\r\n]+)/g;
/** Sentence ends; the capturing group keeps them as fragments, as Python's `re.split` does. */
const SENTENCE_SPLIT = new RegExp(`([?!.][${PY_WHITESPACE}]+)`);

function isPyWhitespace(char: string): boolean {
  // ASCII letters and digits are most characters: answer them without the regex.
  return char <= ' ' || char > '~' ? PY_WHITESPACE_CHAR.test(char) : false;
}

/** Python's `str.strip()` with no argument (a loop: an anchored `\s+$` regex backtracks on every space run). */
export function pyStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isPyWhitespace(text[start])) start += 1;
  while (end > start && isPyWhitespace(text[end - 1])) end -= 1;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** `len(fragment.split(" "))` in Python: the number of single spaces plus one. */
function countSpacePieces(fragment: string): number {
  let pieces = 1;
  for (let at = fragment.indexOf(' '); at !== -1; at = fragment.indexOf(' ', at + 1)) pieces += 1;
  return pieces;
}

/**
 * The seed's `clean_text`: strips markup, then keeps whole sentences while the running count of
 * space-separated pieces (Python `str.split(" ")`: empty pieces count) stays within `maxWords`.
 * A first sentence longer than the cap gives "" (the caller drops the row, as the seed does).
 */
export function cleanText(text: string | null | undefined, maxWords: number): string {
  if (!text) return '';
  const stripped = pyStrip(pyStrip(text).replace(REMOVE_PATTERN, ' '));
  let approxWords = 0;
  let cleaned = '';
  for (const fragment of stripped.split(SENTENCE_SPLIT)) {
    approxWords += countSpacePieces(fragment);
    if (approxWords > maxWords) break;
    cleaned += fragment;
  }
  return pyStrip(cleaned);
}

const FRACTION_BITS = 52;

/**
 * What a hash decides. Each purpose hashes differently, so with equal seeds (both default to 42)
 * the reviews sampled are not also the ones that land in validation.
 */
export type HashPurpose = 'sample' | 'split';

/**
 * A stable number in [0, 1) for a review: the first 52 bits of md5(`${purpose}:${seed}:${reviewId}`).
 * md5 because DuckDB has it built in, so the split's SQL computes the same value
 * (`hashFractionSql`); 52 bits fit a double exactly.
 */
export function hashFraction(purpose: HashPurpose, seed: number, reviewId: string): number {
  const digest = hash('md5', `${purpose}:${seed}:${reviewId}`, 'hex');
  return parseInt(digest.slice(0, FRACTION_BITS / 4), 16) / 2 ** FRACTION_BITS;
}

/** The SQL twin of `hashFraction`, over a VARCHAR column; `seed` must be an integer. */
export function hashFractionSql(purpose: HashPurpose, seed: number, reviewIdColumn: string): string {
  if (!Number.isInteger(seed)) throw new Error(`hashFractionSql: seed must be an integer, got ${seed}`);
  return `(('0x' || left(md5('${purpose}:${seed}:' || ${reviewIdColumn}), ${FRACTION_BITS / 4}))::BIGINT / ${2 ** FRACTION_BITS}.0)`;
}
