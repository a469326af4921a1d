/**
 * Errors that retrying cannot fix. The activities layer maps `InvalidDataError` to a
 * non-retryable `ApplicationFailure` of type 'InvalidData' (config errors: `InvalidConfigError`
 * in lib/config.ts).
 */

/** An input file that cannot be used as a whole: missing, empty, wrong format, too little data. */
export class InvalidDataError extends Error {
  readonly name = 'InvalidDataError';
  constructor(
    /** The offending file (absolute path). */
    readonly file: string,
    /** What is wrong with it. */
    readonly problem: string,
    /** What to do about it. */
    readonly remedy: string,
  ) {
    super(`invalid data in ${file}: ${problem}. ${remedy}`);
  }
}
