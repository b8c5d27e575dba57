/**
 * Local file I/O for the CLI: streaming hash, streaming read, and downloads
 * that land whole or not at all (temp file beside the target, fsync, rename).
 * Files are streamed in chunks, never read whole into memory.
 * Uses `node:` modules, which Node 20 and Deno 2 both provide.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, utimes, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';
import { Readable } from 'node:stream';
import { DigestMismatchError } from './errors.ts';

/** SHA-256 (hex) of a file, read as a stream. */
export async function hashFile(path: string, options: { onProgress?: (n: number) => void; signal?: AbortSignal } = {}): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(path, { signal: options.signal, highWaterMark: CHUNK })) {
    hash.update(chunk as Uint8Array);
    done += (chunk as Uint8Array).byteLength;
    options.onProgress?.(done);
  }
  return hash.digest('hex');
}

const CHUNK = 1024 * 1024;
/** The smallest read: what a file that is done or nearly done is read with. */
const MIN_CHUNK = 16 * 1024;

/** A file as a Web `ReadableStream`, read in chunks of up to 1 MiB (what is left of it, at least 16 KiB) as the consumer pulls. */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  let file: FileHandle | null = null;
  let left = 0;
  const close = async () => {
    const f = file;
    file = null;
    await f?.close();
  };
  return new ReadableStream<Uint8Array>({
    async start() {
      file = await open(path, 'r');
      left = (await file.stat()).size;
    },
    async pull(controller) {
      // Sized to what is left (at least MIN_CHUNK, to see the end or a file
      // that grew): a 4 KiB file is not read into a zeroed 1 MiB buffer (a
      // sync of 10,000 small files spent a fifth of its CPU allocating those).
      const size = Math.min(CHUNK, Math.max(left, MIN_CHUNK));
      const buffer = new Uint8Array(size);
      const { bytesRead } = await file!.read(buffer, 0, size, null);
      left -= bytesRead;
      if (bytesRead === 0) {
        await close();
        controller.close();
      } else {
        controller.enqueue(buffer.subarray(0, bytesRead));
      }
    },
    cancel: close,
  }, { highWaterMark: 2 });
}

/** stdin as a Web `ReadableStream`. */
export function stdinStream(): ReadableStream<Uint8Array> {
  return Readable.toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
}

export interface CopyResult {
  size: number;
  sha256: string;
}

export interface CopyOptions {
  onProgress?: (n: number) => void;
  /** Expected SHA-256 (hex): a mismatch fails the copy. */
  sha256?: string | null;
  signal?: AbortSignal;
}

/** Pumps a stream into `write`, hashing and counting as it goes. */
async function pump(body: ReadableStream<Uint8Array>, write: (chunk: Uint8Array) => Promise<void>, options: CopyOptions): Promise<CopyResult> {
  const hash = createHash('sha256');
  let size = 0;
  const reader = body.getReader();
  const onAbort = () => void reader.cancel().catch(() => {});
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      options.signal?.throwIfAborted();
      await write(value);
      hash.update(value);
      size += value.byteLength;
      options.onProgress?.(size);
    }
    options.signal?.throwIfAborted();
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
  return { size, sha256: hash.digest('hex') };
}

function checkDigest(what: string, result: CopyResult, expected: string | null | undefined): void {
  if (expected && expected.toLowerCase() !== result.sha256) {
    throw new DigestMismatchError(what, { expected: expected.toLowerCase(), actual: result.sha256 });
  }
}

/** fsync of a folder, so a rename in it is durable; a file system that cannot is left be. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // some file systems refuse fsync on a folder (EINVAL, EISDIR): nothing more to do there
  } finally {
    await handle.close();
  }
}

/**
 * Writes a stream to `dest` through a temp file in the same folder, so a
 * failed or interrupted download never leaves a partial file at `dest`, and
 * an existing `dest` stays intact until the new one is complete.
 */
export async function saveToFile(body: ReadableStream<Uint8Array>, dest: string, options: CopyOptions & { modified?: number } = {}): Promise<CopyResult> {
  const temp = join(dirname(dest), `.${basename(dest)}.nuvem-${randomBytes(6).toString('hex')}.tmp`);
  let file: FileHandle;
  try {
    file = await open(temp, 'wx');
  } catch (err) {
    // Name the file the person asked for, not the temp file.
    const code = (err as { code?: string }).code;
    throw Object.assign(new Error(`Cannot write ${dest}: ${(err as Error).message}`), { code, syscall: 'write', path: dest });
  }
  let closed = false;
  try {
    const result = await pump(body, async (chunk) => {
      let offset = 0;
      while (offset < chunk.byteLength) offset += (await file.write(chunk, offset)).bytesWritten;
    }, options);
    checkDigest(`the download to ${dest}`, result, options.sha256);
    await file.sync();
    await file.close();
    closed = true;
    if (options.modified && options.modified > 0) {
      await utimes(temp, new Date(), new Date(options.modified)).catch(() => {});
    }
    await rename(temp, dest);
    await syncFolder(dirname(dest)); // the rename itself survives a crash
    return result;
  } catch (err) {
    if (!closed) await file.close().catch(() => {});
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
}

/** Raised by `writeToStdout` when the reader went away (`| head`). */
export class BrokenPipeError extends Error {
  constructor() {
    super('The output pipe was closed');
    this.name = 'BrokenPipeError';
  }
}

/** Streams to stdout, honouring back-pressure; checks the digest at the end. */
export async function writeToStdout(body: ReadableStream<Uint8Array>, options: CopyOptions = {}): Promise<CopyResult> {
  const out = process.stdout;
  let failure: Error | null = null;
  const onError = (err: Error & { code?: string }) => {
    failure = err.code === 'EPIPE' ? new BrokenPipeError() : err;
  };
  // Stays attached: a late EPIPE must not become an uncaught error.
  out.on('error', onError);
  const write = async (chunk: Uint8Array) => {
    if (failure) throw failure;
    if (!out.write(chunk)) {
      await new Promise<void>((resolve) => {
        const settle = () => {
          out.off('drain', settle);
          out.off('error', settle);
          resolve();
        };
        out.once('drain', settle);
        out.once('error', settle);
      });
    }
    if (failure) throw failure;
  };
  const result = await pump(body, write, options);
  checkDigest('the download', result, options.sha256);
  return result;
}
