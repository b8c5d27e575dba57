/**
 * Small files take one flush (DESIGN.md section 3). The bytes of a file up
 * to 64 KiB (`BLOB_MAX`) are committed in the index with its record, so the
 * write is durable at that one grouped WAL fdatasync. Right after the commit
 * (still under the path's lock) the plain file in files/ is written, renamed
 * into place and noted as the record's local stat, without waiting for a
 * flush of its own; its path and version stay in the index's
 * `unmaterialised` table until a later batched sync (`Materialiser`) has
 * fdatasynced the file and its folders and committed that. At start-up,
 * `rematerialise` rewrites from the index every file not yet marked
 * materialised, before the files folder is checked against the index, so a
 * crash between the commit and that sync never shows as an edit; a file that
 * differs from a materialised record is an edit, as before.
 */
import { createHash, randomUUID } from 'node:crypto';
import { close, closeSync, fstat, fsyncSync, lstatSync, open, openSync, promises as fsp, rename, renameSync, type Stats, write, writeSync } from 'node:fs';
import { constants } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CommitPipeline } from './commit_pipeline.ts';
import { concat, fsyncPath, makeFolders, type Syncer } from './disk.ts';
import { DEFAULT_CONTENT_TYPE, type FileRecord, type LocalStat } from '../protocol/record.ts';
import type { Pending } from './commit_pipeline.ts';
import type { Entry } from './index_db.ts';
import type { DiskWork } from './layout.ts';
import type { PutOptions } from '../functions/deps.ts';
import type { StoreContext } from './store_context.ts';

export { BLOB_MAX } from './index_db.ts';

/**
 * Reads a body whole when it is at most `limit` bytes (with its SHA-256);
 * otherwise hands back the same body, the chunks read so far first, for the
 * streamed protocol.
 */
export async function readSmallBody(
  body: AsyncIterable<Uint8Array>,
  limit: number,
): Promise<{ bytes: Uint8Array; sha256: string } | { rest: AsyncIterable<Uint8Array> }> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await it.next();
    if (next.done) break;
    chunks.push(next.value);
    size += next.value.byteLength;
    if (size > limit) return { rest: resume(chunks, it) };
  }
  const bytes = concat(chunks, size);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function* resume(first: Uint8Array[], it: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  let done = false;
  try {
    yield* first;
    for (;;) {
      const next = await it.next();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await it.return?.();
  }
}


/** Collects a body of at most `size` bytes and checks it against `sha256`; undefined when it does not match. */
export async function collectVerified(body: AsyncIterable<Uint8Array>, expected: { size: number; sha256: string }): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > expected.size) return undefined;
    chunks.push(chunk);
  }
  if (size !== expected.size) return undefined;
  const bytes = concat(chunks, size);
  return sha256Of(bytes) === expected.sha256 ? bytes : undefined;
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A plain file written after its commit, waiting for the sync that makes it durable. */
interface Unsynced {
  path: string;
  version: string;
  file: string;
  local: LocalStat;
  /** Folders whose entries the write changed: its own, and those it created. */
  dirs: string[];
}

/**
 * Makes plain files written after their commit durable in batches: every
 * `delayMs`, the files written since are fdatasynced (in the thread pool, all
 * at once), then their folders, then one index commit marks them
 * materialised and records where each sits. A file whose sync fails stays
 * unmaterialised (start-up rewrites it from the index).
 */
export class Materialiser {
  readonly #commits: CommitPipeline;
  readonly #syncer: Syncer;
  readonly #delayMs: number;
  readonly #onError: (err: unknown) => void;
  #queue: Unsynced[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> = Promise.resolve();
  #closed = false;
  /** Plain files being written (writePlain); a settle waits for them. */
  readonly #writing = new Set<Promise<void>>();

  constructor(options: { commits: CommitPipeline; syncer: Syncer; delayMs: number; onError?: (err: unknown) => void }) {
    this.#commits = options.commits;
    this.#syncer = options.syncer;
    this.#delayMs = options.delayMs;
    this.#onError = options.onError ?? ((err) => console.error('materialising small files failed:', err));
  }

  add(item: Unsynced): void {
    if (this.#closed) return;
    this.#queue.push(item);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.settle(), this.#delayMs);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  /** Notes a plain file being written, so that the next settle includes it. */
  writing(write: Promise<void>): void {
    this.#writing.add(write);
    const done = () => void this.#writing.delete(write);
    write.then(done, done);
  }

  /** Files written but not yet marked materialised (queued). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Syncs and marks every file written so far; resolves once that is committed. */
  async settle(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#writing);
    const batch = this.#queue;
    this.#queue = [];
    this.#running = this.#running.then(() => this.#run(batch)).catch((err) => {
      if (!this.#closed) this.#onError(err);
    });
    return this.#running;
  }

  /** Stops: files not yet synced stay unmaterialised, rewritten at the next start. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#queue = [];
  }

  async #run(batch: Unsynced[]): Promise<void> {
    if (batch.length === 0 || this.#closed) return;
    // Two at a time: the thread pool (4 threads) stays free for the index's WAL
    // fsync and the requests' own file work, which acknowledgements wait on.
    const synced: boolean[] = new Array(batch.length).fill(false);
    let next = 0;
    const worker = async () => {
      while (next < batch.length && !this.#closed) {
        const k = next++;
        synced[k] = await fsyncPath(batch[k].file, { dataOnly: true }).then(
          () => true,
          // Gone (deleted or replaced since): nothing of this version to keep on disk.
          (err) => (err as { code?: string }).code === 'ENOENT',
        );
      }
    };
    await Promise.all([worker(), worker()]);
    const dirs = new Set(batch.filter((_, k) => synced[k]).flatMap((i) => i.dirs));
    const dirsOk = await Promise.all([...dirs].map((d) => this.#syncer.sync(d).then(() => true, () => false)));
    if (this.#closed || dirsOk.includes(false)) return;
    const materialised = batch.filter((_, k) => synced[k]).map(({ path, version, local }) => ({ path, version, local }));
    if (materialised.length === 0) return;
    await this.#commits.commit({ changes: [], put: [], revisions: [], rows: { materialised } });
  }
}

/**
 * Writes the plain file of a small version right after its commit, without
 * a flush (the index holds its bytes): temp file, rename into place, its
 * stat noted on the record, and queued for the batched sync. The file work
 * runs in the thread pool, never on the main thread. Called under the path's
 * lock, which it holds until the file is in place. Never rejects: a failure
 * leaves the version unmaterialised, reads come from the index and start-up
 * writes the file again.
 */
export function writePlain(ctx: StoreContext, record: FileRecord, options: { bytes: Uint8Array; dirs?: string[] }): Promise<void> {
  const write = writeAndNote(ctx, record, options);
  ctx.materialiser.writing(write);
  return write;
}

async function writeAndNote(ctx: StoreContext, record: FileRecord, options: { bytes: Uint8Array; dirs?: string[] }): Promise<void> {
  const { layout, index } = ctx;
  const dest = layout.filePath(record.path);
  const temp = join(layout.tmpDir, randomUUID());
  try {
    const st = await writeRenamed(temp, dest, options.bytes);
    const local = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    index.noteLocal(record.path, record.version, local);
    ctx.materialiser.add({ path: record.path, version: record.version, file: dest, local, dirs: [...(options.dirs ?? []), dirname(dest)] });
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => {});
    ctx.onSmallError?.(err, record.path);
  }
}

/**
 * Writes `bytes` to a new file `temp`, takes its stat and renames it to
 * `dest`: open, write, fstat, close, rename, each in the thread pool through
 * the callback API (no FileHandle, one promise), which costs the main thread
 * far less per small file than fs/promises.
 */
function writeRenamed(temp: string, dest: string, bytes: Uint8Array): Promise<Stats> {
  return new Promise((resolve, reject) => {
    open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644, (err, fd) => {
      if (err) return reject(err);
      const fail = (e: unknown) => close(fd, () => reject(e));
      const written = (at: number) => {
        if (at < bytes.byteLength) {
          return write(fd, bytes, at, bytes.byteLength - at, null, (e, n) => (e ? fail(e) : written(at + n)));
        }
        fstat(fd, (e, st) => {
          if (e) return fail(e);
          close(fd, (e) => {
            if (e) return reject(e);
            rename(temp, dest, (e) => (e ? reject(e) : resolve(st)));
          });
        });
      };
      written(0);
    });
  });
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at);
}

/**
 * This node's write of a small file: under the path's lock, the record and
 * its bytes are committed together (one grouped WAL flush), the replaced
 * version kept as a revision (its bytes stay in the index when they are
 * there; else hard-linked as before); then the plain file is written.
 */
export function putSmall(
  ctx: StoreContext,
  path: string,
  options: { bytes: Uint8Array; sha256: string; options: PutOptions; check: () => Entry | undefined },
): Promise<{ record: FileRecord; created: boolean }> {
  const { layout, commits, cache } = ctx;
  const { bytes, sha256 } = options;
  return ctx.locks.withPaths([path], async () => {
    const current = options.check();
    const record = ctx.newRecord(path, {
      type: 'file',
      size: bytes.byteLength,
      sha256,
      contentType: options.options.contentType ?? DEFAULT_CONTENT_TYPE,
    });
    const pending: Pending = {
      changes: [{ ...record, op: 'put', prev: current?.version }],
      put: [{ record }],
      revisions: [],
      rows: { blobs: [{ sha256, bytes }], unmaterialised: [{ path, version: record.version }] },
    };
    if (current) await layout.retire(current, pending);
    // Folders made for the file are synced with it, after the commit.
    const folders: DiskWork = { revisions: [] };
    await layout.makeParent(layout.filePath(path), folders);
    await commits.commit(pending);
    cache.set(path, record.version, bytes);
    // Answered with the plain file in place, as a person looking at the files
    // folder expects; written in the thread pool (writePlain never rejects).
    await writePlain(ctx, record, { bytes, dirs: folders.syncDirs });
    return { record, created: !current };
  });
}

/**
 * Start-up: every small version committed but not marked materialised gets
 * its plain file written again from the index (temp file, fdatasync, rename,
 * folder fsync), then all are marked in one commit. Rows of versions no
 * longer current are dropped. Returns the paths rewritten.
 */
export async function rematerialise(ctx: StoreContext): Promise<string[]> {
  const { index, layout } = ctx;
  const rows = index.unmaterialised();
  if (rows.length === 0) return [];
  const done: { path: string; version: string; local?: LocalStat }[] = [];
  const rewritten: string[] = [];
  for (const row of rows) {
    const e = index.get(row.path);
    const bytes = e && !e.deleted && e.type === 'file' && e.version === row.version ? index.blob(e.sha256) : undefined;
    if (!bytes) {
      if (!e || e.version !== row.version || e.deleted || e.type !== 'file') done.push(row); // stale: nothing to write
      continue;
    }
    const dest = layout.filePath(row.path);
    const temp = join(layout.tmpDir, randomUUID());
    try {
      await layout.refuseLinks(dest);
      const created = await makeFolders(dirname(dest));
      const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      try {
        writeAll(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, dest);
      await layout.syncFolders([...created, dirname(dest)]);
      const st = lstatSync(dest);
      done.push({ ...row, local: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } });
      rewritten.push(row.path);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      ctx.onSmallError?.(err, row.path);
    }
  }
  if (done.length) await ctx.commits.commit({ changes: [], put: [], revisions: [], rows: { materialised: done } });
  return rewritten;
}
