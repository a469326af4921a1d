/**
 * Chunked line reading: a task's byte range of a file (gunzipped on the way when it is gzip) as
 * physical lines, each with its line-level fault (too long, NUL byte, invalid UTF-8).
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { InvalidDataError } from '../../lib/failures';
import type { CleanTask, InputFile } from '../../lib/steps';

/** No review is this long; a longer line means a wrong file, and must not exhaust memory. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;
/** How much of a row the quarantine file keeps (of an over-long line, this many characters' bytes). */
export const QUARANTINE_RAW_CHARS = 2000;
const READ_CHUNK_BYTES = 1024 * 1024;

/** Bytes [start, end) of a file (end null: to the end); both on line starts. */
export type ByteRange = CleanTask['range'];

/** Per physical line: its text (CR and BOM removed), 1-based number, and a line-level fault. */
export type LineHandler = (text: string, line: number, fault: string | null) => void;

/**
 * Streams the file's lines to `handler` (synchronously, chunk by chunk) and awaits `afterChunk`
 * between chunks, where output backpressure, progress and cancellation are handled. A run of
 * complete lines that is valid UTF-8 without NUL bytes (nearly always the whole chunk) is
 * decoded at once; otherwise each line is checked on its own. Returns the lines read.
 */
export async function forEachLine(file: InputFile, range: ByteRange, handler: LineHandler, afterChunk: () => Promise<void>): Promise<number> {
  const source = createReadStream(file.path, { highWaterMark: READ_CHUNK_BYTES, start: range.start, end: range.end === null ? undefined : range.end - 1 });
  const input = file.gzip ? source.pipe(createGunzip({ chunkSize: READ_CHUNK_BYTES })) : source;
  if (file.gzip) source.on('error', (error) => input.destroy(error));
  let lineNumber = 0;
  /** The start of a line continued in the next chunk. */
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Inside a line over MAX_LINE_BYTES: its head is kept, the rest skipped up to its newline. */
  let oversized = false;

  const emitText = (text: string, fault: string | null) => {
    lineNumber += 1;
    if (lineNumber === 1 && range.start === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
    handler(text, lineNumber, fault);
  };
  const emitBytes = (bytes: Buffer) => {
    if (oversized) return emitText(bytes.subarray(0, QUARANTINE_RAW_CHARS * 4).toString('utf8'), `line longer than ${MAX_LINE_BYTES} bytes`);
    const fault = bytes.includes(0) ? 'contains a NUL byte' : isUtf8(bytes) ? null : 'invalid UTF-8';
    emitText(bytes.toString('utf8'), fault);
  };
  /** Complete lines, without the final newline. */
  const emitRegion = (region: Buffer) => {
    if (region.indexOf(0) === -1 && isUtf8(region)) {
      const text = region.toString('utf8');
      let start = 0;
      for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
        emitText(text.slice(start, newline), null);
        start = newline + 1;
      }
      emitText(start === 0 ? text : text.slice(start), null);
      return;
    }
    let start = 0;
    for (let newline = region.indexOf(0x0a); newline !== -1; newline = region.indexOf(0x0a, start)) {
      emitBytes(region.subarray(start, newline));
      start = newline + 1;
    }
    emitBytes(region.subarray(start));
  };
  const finishPending = (tail: Buffer) => {
    emitBytes(pending.length === 0 ? tail : Buffer.concat([...pending, tail]));
    pending = [];
    pendingBytes = 0;
    oversized = false;
  };
  const keepPending = (rest: Buffer) => {
    if (oversized) return;
    pending.push(rest);
    pendingBytes += rest.length;
    if (pendingBytes > MAX_LINE_BYTES) {
      // Keep the head for the quarantine entry and drop the rest of the line.
      pending = [Buffer.concat(pending).subarray(0, QUARANTINE_RAW_CHARS * 4)];
      oversized = true;
    }
  };

  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let start = 0;
      if (pendingBytes > 0 || oversized) {
        const newline = chunk.indexOf(0x0a);
        if (newline === -1) {
          keepPending(chunk);
          await afterChunk();
          continue;
        }
        finishPending(chunk.subarray(0, newline));
        start = newline + 1;
      }
      const lastNewline = chunk.lastIndexOf(0x0a);
      if (lastNewline >= start) {
        emitRegion(chunk.subarray(start, lastNewline));
        start = lastNewline + 1;
      }
      // A copy: a slice would keep the whole chunk alive.
      if (start < chunk.length) keepPending(Buffer.from(chunk.subarray(start)));
      await afterChunk();
    }
  } catch (error) {
    throw gzipError(file, error, lineNumber);
  } finally {
    // pipe() does not close the source when the gunzip side stops early.
    source.destroy();
  }
  if (pendingBytes > 0 || oversized) finishPending(Buffer.alloc(0));
  return lineNumber;
}

/** The first byte after the first newline at or after `offset` (null: none before the end). */
export async function lineStartAfter(path: string, offset: number): Promise<number | null> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    for (let at = offset; ; at += buffer.length) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) return null;
      const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
      if (newline !== -1) return at + newline + 1;
    }
  } finally {
    await handle.close();
  }
}

/** A zlib failure becomes the whole-file fault it is (truncated or corrupt gzip); others pass through. */
export function gzipError(file: InputFile, error: unknown, afterLine: number | null): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (file.gzip && typeof code === 'string' && code.startsWith('Z_')) {
    const where = afterLine === null ? 'in its first megabyte' : `after line ${afterLine}`;
    return new InvalidDataError(
      file.path,
      `gzip data is corrupt or truncated ${where} (${(error as Error).message})`,
      'Re-download or regenerate the file',
    );
  }
  return error;
}

/** A format reader over one file's lines. */
export interface LineReader {
  onLine: LineHandler;
  /** Called once the file is exhausted (flushes a pending CSV record). */
  finish(): void;
  readonly headerSeen: boolean;
  readonly blankLines: number;
}
