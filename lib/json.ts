/** JSON that may not be JSON (a line from another process, a file a crash cut short). */

/** The parsed value, or null when `text` is not JSON; callers validate the value with zod. */
export function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
