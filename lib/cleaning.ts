/**
 * Text cleaning in two modes (`data.cleaning`, documented with examples in
 * docs/data-preparation.md) and the per-review hash that sampling and the train/validation split
 * use.
 *
 * `seed`: the seed notebook's `clean_text`, ported exactly (golden tests in
 * test/unit/cleaning.test.ts were produced by running the seed's Python).
 * `default`: the same idea without the seed's losses: an over-long first sentence is cut at the
 * word cap instead of emptying the row, HTML entities are decoded, whitespace is normalised.
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
import type { CleaningMode } from './config';

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

/**
 * Tags and `[[VIDEOID:...]]` markup. A tag must start with a letter, `/` or `!` right after `<`,
 * so text such as "a < b and c > d" or "I <3 it" survives (the seed's `<[^>]+>` eats it).
 */
const MARKUP_PATTERN = /<[A-Za-z/!][^<>]*>|\[\[[^\]]+\]\]/g;
const ENTITY_PATTERN = /&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/g;
/**
 * Whitespace that is not already one plain space between words: a space followed by more
 * whitespace, or any other whitespace character (JS `\s`, which has U+FEFF, plus what Python
 * also counts: U+001C..U+001F and NEL) and the whitespace after it. Single spaces do not match,
 * so text that is already normal is scanned, not rebuilt.
 */
const IRREGULAR_WHITESPACE = / [\s\x1c-\x1f\x85]+|[\t-\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][\s\x1c-\x1f\x85]*/g;
const WHITESPACE_RUN = /[\s\x1c-\x1f\x85]+/;

/** Named entities seen in review text; an unknown name is left as written. */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&', quot: '"', lt: '<', gt: '>', apos: "'", nbsp: '\u00a0',
  ndash: '\u2013', mdash: '\u2014', hellip: '\u2026', lsquo: '\u2018', rsquo: '\u2019', ldquo: '\u201c', rdquo: '\u201d',
  laquo: '\u00ab', raquo: '\u00bb', bull: '\u2022', middot: '\u00b7', deg: '\u00b0', plusmn: '\u00b1', times: '\u00d7',
  divide: '\u00f7', frac12: '\u00bd', frac14: '\u00bc', frac34: '\u00be', copy: '\u00a9', reg: '\u00ae', trade: '\u2122',
  euro: '\u20ac', pound: '\u00a3', cent: '\u00a2', yen: '\u00a5', sect: '\u00a7', micro: '\u00b5', para: '\u00b6',
  iexcl: '\u00a1', iquest: '\u00bf', eacute: '\u00e9', egrave: '\u00e8', ecirc: '\u00ea', aacute: '\u00e1', agrave: '\u00e0',
  acirc: '\u00e2', auml: '\u00e4', ouml: '\u00f6', uuml: '\u00fc', oacute: '\u00f3', iacute: '\u00ed', uacute: '\u00fa',
  ntilde: '\u00f1', ccedil: '\u00e7', szlig: '\u00df', Auml: '\u00c4', Ouml: '\u00d6', Uuml: '\u00dc', Eacute: '\u00c9',
};

/** Decodes named (`&amp;`), decimal (`&#34;`) and hex (`&#x27;`) entities once: `&amp;quot;` gives `&quot;`. */
export function decodeHtmlEntities(text: string): string {
  return text.replace(ENTITY_PATTERN, (entity, decimal: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (name !== undefined) return NAMED_ENTITIES[name] ?? entity;
    const codePoint = decimal !== undefined ? Number(decimal) : parseInt(hex!, 16);
    // NUL, surrogates and values past Unicode are not characters: keep the text as written.
    const valid = codePoint > 0 && codePoint <= 0x10ffff && (codePoint < 0xd800 || codePoint > 0xdfff);
    return valid ? String.fromCodePoint(codePoint) : entity;
  });
}

/** Whether the character at `at` ends a sentence: `.`, `?` or `!`. */
function endsSentenceAt(text: string, at: number): boolean {
  const char = text.charCodeAt(at);
  return char === 0x2e || char === 0x3f || char === 0x21;
}

/**
 * The `default` mode: markup replaced by a space, entities decoded, every whitespace run made one
 * space, then whole sentences kept while the word count stays within `maxWords`. A first sentence
 * longer than the cap is cut after `maxWords` words, so the review is kept (the seed empties it).
 * A sentence ends at a word ending in `.`, `?` or `!` (the seed's `[?!.]` followed by whitespace).
 */
export function cleanTextDefault(text: string | null | undefined, maxWords: number): string {
  if (!text) return '';
  let normal = text.replace(MARKUP_PATTERN, ' ');
  if (normal.includes('&')) normal = decodeHtmlEntities(normal);
  normal = normal.replace(IRREGULAR_WHITESPACE, ' ');
  // Only plain single spaces are left; at most one at each end.
  const start = normal.charCodeAt(0) === 0x20 ? 1 : 0;
  const end = normal.charCodeAt(normal.length - 1) === 0x20 ? normal.length - 1 : normal.length;
  if (start > 0 || end < normal.length) normal = normal.slice(start, Math.max(start, end));
  // Words are separated by single spaces: the space after word `maxWords` is where a cap cuts.
  let words = 0;
  let sentenceEnd = -1;
  for (let space = normal.indexOf(' '); space !== -1; space = normal.indexOf(' ', space + 1)) {
    words += 1;
    if (endsSentenceAt(normal, space - 1)) sentenceEnd = space;
    if (words === maxWords) return normal.slice(0, sentenceEnd === -1 ? space : sentenceEnd);
  }
  return normal;
}

/** The cleaning function of a mode: `(text, maxWords) => cleaned text ("" drops the row)`. */
export function cleanerFor(mode: CleaningMode): (text: string | null | undefined, maxWords: number) => string {
  return mode === 'seed' ? cleanText : cleanTextDefault;
}

/** Whitespace-separated words, for the minimum-length filters. */
export function countWords(text: string): number {
  let words = 0;
  for (const word of text.split(WHITESPACE_RUN)) if (word !== '') words += 1;
  return words;
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
