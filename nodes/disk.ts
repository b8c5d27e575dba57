/**
 * The node's file I/O (Node's fs API, which Deno 2 also provides): streaming a
 * body to a temp file while hashing it, fsync, rename, folder fsync, ranged
 * reads. Everything durable in the store goes through these few functions.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  closeSync, constants, createReadStream, fdatasync, fstatSync, fsync, open, openSync, promises as fsp, type Stats, writeSync, writevSync,
} from 'node:fs';
import { Buffer } from 'node:buffer';
import { dirname, join } from 'node:path';
import { NuvemError } from '../protocol/errors.ts';

export interface TempFile {
  path: string;
  size: number;
  sha256: string;
  /** Its stat (a rename keeps inode, size and mtime). */
  stat: { size: number; mtimeMs: number; ino: number };
  /** The body when it is small (for the read cache); undefined otherwise. */
  small?: Uint8Array;
}

const WRITE_BATCH = 1 << 20;
/**
 * While a big body streams in, the bytes written so far are flushed to disk
 * (fdatasync) every this many bytes, one flush at a time, so the disk works
 * during the transfer and the final fsync has only the tail left.
 */
const EARLY_SYNC_BYTES = 8 << 20;

/**
 * Request bodies arrive as buffers allocated per socket read (64 KiB). They
 * die young but are freed only at a collection, and V8 lets about 64 MiB of
 * such memory outside its heap pile up before it starts one by itself. When
 * the runtime exposes `gc` (node_flags.ts: --expose-gc), a long write runs a
 * young-generation collection (well under a millisecond) every COLLECT_BYTES,
 * which keeps a big upload's memory flat: peak RSS during a 2 GiB upload
 * 110 MiB instead of 125.
 *
 * Why 4 MiB: V8 counts buffer memory allocated since the last full
 * collection against the old generation's limit, which in a node's small
 * heap is only about 8 MiB above what is live, and it checks that limit right
 * after each young collection, before the buffers that collection freed are
 * swept. Collecting every 8 MiB often crossed it: a 64 MiB upload then ran
 * about four full collections (each ~5 ms on the main thread and 30-50 ms of
 * marking on helper threads). Every 4 MiB, one per two to ten uploads, and
 * a node's CPU per 64 MiB upload fell by a fifth or more (250-280 ms against
 * 340-350, medians of two runs of 8 uploads alternating). Every 1 MiB is
 * worse again: chunks still being written live through two young
 * collections and are promoted.
 *
 * A long read (fileStream) collects once, at its end: collecting every
 * 8 MiB there cost a third of GET throughput (1 GiB from the page cache,
 * 1,200 → 850 MB/s).
 */
const COLLECT_BYTES = 4 << 20;
const collectYoung = () => (globalThis as { gc?: (options: object) => void }).gc?.({ type: 'minor' });

/**
 * Streams `body` into a new file in `tmpDir`, computing SHA-256 on the way, then
 * fsyncs it. Memory use is bounded by one write batch whatever the body size.
 * On any failure the temp file is removed and the error rethrown.
 */
export async function writeTemp(
  tmpDir: string,
  body: AsyncIterable<Uint8Array>,
  options: { maxSize?: number; keepSmall?: number } = {},
): Promise<TempFile> {
  const path = join(tmpDir, randomUUID());
  const hash = createHash('sha256');
  const keepSmall = options.keepSmall ?? 0;
  let size = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let small: Uint8Array[] | undefined = keepSmall > 0 ? [] : undefined;
  // Opened once the body outgrows one batch: a body that fits is written whole (writeWhole).
  let handle: fsp.FileHandle | undefined;
  // One write in flight while the next batch is read: network and disk overlap.
  let writing: Promise<unknown> = Promise.resolve();
  let syncing: Promise<unknown> | undefined;
  let unsynced = 0;
  const flush = async () => {
    handle ??= await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    await writing;
    if (unsynced >= EARLY_SYNC_BYTES && !syncing) {
      unsynced = 0;
      syncing = handle.datasync().finally(() => (syncing = undefined));
      syncing.catch(() => {}); // awaited at the end; handled there
    }
    if (pendingBytes === 0) return;
    writing = writevAll(handle, pending, pendingBytes);
    writing.catch(() => {}); // awaited before the next write; handled there
    unsynced += pendingBytes;
    pending = [];
    pendingBytes = 0;
  };
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (options.maxSize !== undefined && size > options.maxSize) {
        throw new NuvemError('too_large', `The body is larger than ${options.maxSize} bytes`);
      }
      hash.update(chunk);
      if (small) {
        if (size <= keepSmall) small.push(chunk);
        else small = undefined;
      }
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      if (pendingBytes >= WRITE_BATCH) {
        await flush();
        if (size % COLLECT_BYTES < WRITE_BATCH) collectYoung();
      }
    }
    let st: { size: number; mtimeMs: number; ino: number };
    if (handle) {
      await flush();
      await writing;
      await syncing;
      await handle.sync();
      st = await handle.stat();
      await handle.close();
      if (st.size !== size) throw new NuvemError('internal', `Wrote ${st.size} of ${size} bytes to a temp file`, { diskFailed: true });
      if (size >= COLLECT_BYTES) collectYoung(); // the last chunks' buffers too, not at the next collection
    } else {
      st = await writeWhole(path, pending);
    }
    return { path, size, sha256: hash.digest('hex'), stat: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, small: small && concat(small, size) };
  } catch (err) {
    await writing.catch(() => {});
    await syncing?.catch(() => {});
    await handle?.close().catch(() => {});
    await fsp.rm(path, { force: true });
    throw diskError(err);
  }
}

/**
 * Writes every byte of `chunks` at the file's position. A regular file takes
 * a short write when its disk fills; the rest is written again (and fails
 * with ENOSPC if there is still no room), never skipped: space freed a moment
 * later would otherwise let the next batch land after a hole of lost bytes.
 */
async function writevAll(handle: fsp.FileHandle, chunks: Uint8Array[], total: number): Promise<void> {
  let written = (await handle.writev(chunks)).bytesWritten;
  while (written < total) written += (await handle.write(concat(chunks, total).subarray(written))).bytesWritten;
}

/**
 * Writes a body that fits in one batch as a new file and fsyncs it. The calls
 * that do not wait for the disk (open, write into the page cache, stat, close)
 * run in place; only the fsync goes to the thread pool. For small files that
 * is most of the CPU a write costs, the hand-offs to and from the pool.
 */
async function writeWhole(path: string, chunks: Uint8Array[]): Promise<Stats> {
  const fd = await openFd(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL);
  try {
    const total = chunks.reduce((n, c) => n + c.byteLength, 0);
    let written = writevSync(fd, chunks);
    // A regular file takes the whole write unless the disk is full; finish a short one anyway.
    while (written < total) written += writeSync(fd, concat(chunks, total).subarray(written));
    await syncFd(fd);
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** open(2) in the thread pool: creating a file can wait for the journal. */
function openFd(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/** fsync (or fdatasync) of an open descriptor, in the thread pool. */
export function syncFd(fd: number, dataOnly = false): Promise<void> {
  return new Promise((resolve, reject) => (dataOnly ? fdatasync : fsync)(fd, (err) => (err ? reject(err) : resolve())));
}

/** `chunks` as one array of `size` bytes (the chunk itself when there is one). */
export function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Maps errors that mean something to a client: a full disk (ENOSPC, EDQUOT,
 * SQLite's SQLITE_FULL) is `disk_full` (507); an I/O error (EIO,
 * SQLITE_IOERR…) is a 500 that says so. Others pass through.
 */
export function diskError(err: unknown): unknown {
  if (err instanceof NuvemError) return err;
  const code = String((err as { code?: unknown })?.code ?? '');
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') {
    return new NuvemError('disk_full', 'The node\'s disk is full; nothing was changed. Free space on it, or write to another node');
  }
  if (code === 'EIO' || code.startsWith('SQLITE_IOERR')) {
    return new NuvemError('internal', `The node's disk failed (${code}); nothing was changed`, { diskFailed: true });
  }
  return err;
}

/**
 * True for a fault of this node's own disk (full, or failing): a change that
 * hits one is not at fault and must be tried again, never passed over.
 */
export function isDiskFault(err: unknown): boolean {
  const mapped = diskError(err);
  return mapped instanceof NuvemError && (mapped.code === 'disk_full' || mapped.extra.diskFailed === true);
}

/**
 * fsyncs files and folders, coalescing concurrent requests for one path:
 * callers that arrive while a sync is queued share it; one that arrives while
 * it runs gets the next one (its write may have come after that sync started).
 * `dataOnly` syncs with fdatasync(2): the bytes and what reading them needs
 * (the size), not timestamps; for a file overwritten in place, such as
 * SQLite's write-ahead log once it has reached its size, that spares a
 * journal commit.
 */
export class Syncer {
  #queued = new Map<string, Promise<void>>();
  #running = new Map<string, Promise<void>>();

  sync(path: string, options: { dataOnly?: boolean } = {}): Promise<void> {
    const queued = this.#queued.get(path);
    if (queued) return queued;
    const before = this.#running.get(path) ?? Promise.resolve();
    const next = before.then(async () => {
      this.#queued.delete(path);
      this.#running.set(path, next);
      try {
        await fsyncPath(path, options);
      } finally {
        if (this.#running.get(path) === next) this.#running.delete(path);
      }
    });
    this.#queued.set(path, next);
    return next;
  }
}

/** fsyncs (or fdatasyncs) a file or folder by path (open and close in place, the sync in the thread pool). */
export async function fsyncPath(path: string, options: { dataOnly?: boolean } = {}): Promise<void> {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    await syncFd(fd, options.dataOnly);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `dir` and its missing parents; returns the folders whose entries
 * changed (the parents of each created folder), to be fsynced.
 */
export async function makeFolders(dir: string): Promise<string[]> {
  const first = await fsp.mkdir(dir, { recursive: true });
  if (first === undefined) return [];
  const changed: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    changed.push(dirname(d));
    if (d === first) break;
  }
  return changed;
}

/**
 * Removes empty folders from `dir` upwards, up to (not including) `stop` and
 * stopping at the first folder `keep` says to keep. Returns the folders
 * removed, deepest first.
 */
export async function removeEmptyFolders(dir: string, options: { stop: string; keep: (dir: string) => boolean }): Promise<string[]> {
  const removed: string[] = [];
  for (let d = dir; d.length > options.stop.length && d.startsWith(options.stop + '/'); d = dirname(d)) {
    if (options.keep(d)) break;
    try {
      await fsp.rmdir(d);
      removed.push(d);
    } catch {
      break;
    }
  }
  return removed;
}

const READ_CHUNK = 1024 * 1024;

/**
 * A byte stream over [start, end] (inclusive) of an open file, reading up to
 * two 1 MiB chunks ahead of the consumer; closes the handle when done or
 * cancelled.
 */
export function fileStream(handle: fsp.FileHandle, start: number, end: number): ReadableStream<Uint8Array> {
  let position = start;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const want = Math.min(READ_CHUNK, end + 1 - position);
      if (want <= 0) {
        await handle.close();
        if (end + 1 - start >= COLLECT_BYTES) collectYoung();
        controller.close();
        return;
      }
      // Not zero-filled: the read overwrites it, and a short read is cut to what was read.
      const buf = Buffer.allocUnsafeSlow(want);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buf, 0, want, position));
      } catch (err) {
        await handle.close().catch(() => {});
        controller.error(err); // also when cancelled meanwhile: then it is a no-op
        return;
      }
      if (bytesRead === 0) {
        await handle.close();
        controller.error(new Error('file shorter than its record'));
        return;
      }
      position += bytesRead;
      controller.enqueue(bytesRead === want ? buf : buf.subarray(0, bytesRead));
    },
    async cancel() {
      await handle.close().catch(() => {});
    },
  }, { highWaterMark: 2 });
}

/** SHA-256 (hex) of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Uint8Array);
  return hash.digest('hex');
}

export async function exists(path: string): Promise<boolean> {
  return fsp.access(path).then(() => true, () => false);
}
