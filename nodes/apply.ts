/**
 * Changes made on other nodes, applied through the same durable path as a
 * local write (temp file, rename under the path's lock, folder fsync, grouped
 * index commit). The higher-ranked record wins (conflict.ts); a losing live
 * version is kept as a revision.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Pending } from './commit_pipeline.ts';
import { clashingWith, clashTombstone, highest, mayClash, splitClash } from './clash.ts';
import { wins } from './conflict.ts';
import { exists, makeFolders, writeTemp } from './disk.ts';
import { NuvemError } from '../protocol/errors.ts';
import { ancestorsOf } from '../protocol/paths.ts';
import { type Entry, publicRecord } from './index_db.ts';
import { type Change, type FileRecord, recordOf, tombstoneOf } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';
import type { DiskWork } from './layout.ts';
import { BLOB_MAX, collectVerified, writePlain } from './small_files.ts';
import { crashPoint, intend } from './intents.ts';

/**
 * Where a change's content comes from: each call may answer another copy
 * (peers.ts `source`: the next member), so a copy that fails its SHA-256 is
 * fetched again elsewhere; a rejection means no copy is left.
 */
export type ContentSource = () => Promise<AsyncIterable<Uint8Array>>;

/** A record removed because a clashing one (a file and a folder of one name) keeps the name: clash.ts. */
export interface Clash {
  winner: FileRecord;
  loser: FileRecord;
}

/** Copies fetched for one change before giving up on it (a copy that fails its hash does not end the search). */
const MAX_FETCHES = 8;

export type ApplyResult =
  | { outcome: 'applied'; loser?: FileRecord; clashes?: Clash[] }
  | { outcome: 'lost'; winner: FileRecord }
  | { outcome: 'duplicate' };

export class RemoteChanges {
  readonly #ctx: StoreContext;
  /** Paths of the changes being applied (how many of each). */
  readonly #inFlight = new Map<string, number>();

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * Applies a change made on another node. Content comes from a local copy
   * with the same SHA-256 when this node holds one, else from `fetchContent`;
   * it is verified before anything is committed. With `advance`, the change
   * is the next of its origin and moves `applied[origin]` to its seq.
   */
  async apply(change: Change, options: { fetchContent: ContentSource; advance: boolean }): Promise<ApplyResult> {
    this.#refuseAhead(change);
    const run = () => this.#applyLocked(change, options);
    // A change that may clash with a file or folder of the same name (clash.ts),
    // here or among the changes being applied, touches paths beyond its own:
    // it runs alone. Such changes are rare.
    const alone = mayClash(recordOf(change), this.#ctx.index) || this.#relatedInFlight(change.path);
    this.#inFlight.set(change.path, (this.#inFlight.get(change.path) ?? 0) + 1);
    try {
      return await (alone ? this.#ctx.locks.withTree(run) : this.#ctx.locks.withPaths(pathsOf(change), run));
    } finally {
      const n = this.#inFlight.get(change.path)! - 1;
      if (n) this.#inFlight.set(change.path, n);
      else this.#inFlight.delete(change.path);
    }
  }

  /** Is a change of a folder or file above `path`, or of a path under it, being applied? */
  #relatedInFlight(path: string): boolean {
    if (this.#inFlight.size === 0) return false;
    if (ancestorsOf(path).some((a) => this.#inFlight.has(a))) return true;
    for (const p of this.#inFlight.keys()) if (p.startsWith(path + '/')) return true;
    return false;
  }

  async #applyLocked(change: Change, options: { fetchContent: ContentSource; advance: boolean }): Promise<ApplyResult> {
    const { index, layout, commits } = this.#ctx;
    this.#ctx.clock.observe(change.version);
    const record = recordOf(change);
    const advance = options.advance ? { origin: change.origin, seq: change.seq } : undefined;
    const pending: Pending = { changes: [], put: [], revisions: [], advance };
    const current = index.get(change.path);
    if (current?.version === change.version || index.revision(change.path, change.version)) {
      if (advance) pending.changes.push(change);
      const away = await this.#leaveFrom(change, pending);
      await commits.commit(pending);
      if (away) await this.#left(change.from!);
      return { outcome: 'duplicate' };
    }
    pending.changes.push(change);
    if (current && !wins(record, current)) {
      if (!record.deleted && record.type === 'file') await this.#keepAsRevision(change, options.fetchContent, pending);
      const away = await this.#leaveFrom(change, pending);
      await commits.commit(pending);
      if (away) await this.#left(change.from!);
      return { outcome: 'lost', winner: publicRecord(current) };
    }
    const fromEntry = change.op === 'move' && change.from ? index.get(change.from) : undefined;
    const fromLoses = fromEntry && !fromEntry.deleted && wins(fromTombstoneOf(change, record)!, fromEntry);
    const live = current && !current.deleted ? current : undefined;
    const clashes: Clash[] = [];
    // A file and a folder of one name (clash.ts): the higher-ranked keeps it.
    const { killers, victims } = splitClash(record, clashingWith(record, index).filter((e) => e.path !== change.from));
    for (const victim of victims.sort((a, b) => b.path.length - a.path.length)) {
      await this.#remove(victim, { winner: record, pending });
      clashes.push({ winner: record, loser: publicRecord(victim) });
    }
    const killer = highest(killers);
    if (live) await layout.retire(live, pending);
    let small: Uint8Array | undefined;
    const smallFolders: DiskWork = { revisions: [] };
    const file = layout.filePath(change.path);
    if (killer) {
      // A clashing record outranks this one: kept as a revision, its path a clash tombstone.
      if (live?.type === 'file') await fsp.rm(file, { force: true });
      else if (live) await removeFoldersLeft(file);
      dropSyncsUnder(pending, file);
      if (record.type === 'file') await this.#keepAsRevision(change, options.fetchContent, pending);
      const tombstone = clashTombstone(record, killer);
      pending.changes.push(tombstone);
      pending.put.push({ record: recordOf(tombstone) });
      if (live) (pending.syncDirs ??= []).push(dirname(file)); // else its folder may not exist (a file outranks it)
      clashes.push({ winner: publicRecord(killer), loser: record });
    } else if (record.deleted) {
      if (live?.type === 'file') await fsp.rm(file, { force: true });
      else if (live) await fsp.rmdir(file).catch(() => {});
      (pending.syncDirs ??= []).push(dirname(file));
      pending.put.push({ record });
    } else if (record.type === 'folder') {
      if (live?.type === 'file') await fsp.rm(file, { force: true });
      (pending.syncDirs ??= []).push(...(await makeFolders(file)));
      pending.put.push({ record });
    } else if (fromLoses && fromEntry!.sha256 === record.sha256 && fromEntry!.local) {
      // A move of content this node holds at `from`: rename, no bytes.
      await this.#ctx.materialiser.settle(); // a small file's plain file synced before it moves
      await layout.place(layout.filePath(change.from!), { to: change.path, pending });
      pending.put.push({ record, local: fromEntry!.local });
    } else if (record.size <= BLOB_MAX) {
      // One flush: the bytes are committed with the record, the plain file written after (small_files.ts).
      small = await this.#fetchBytes(change, options.fetchContent);
      if (live?.type === 'folder' || victims.length) {
        await removeEmptyTree(file);
        dropSyncsUnder(pending, file);
      }
      pending.rows = { ...pending.rows, blobs: [...(pending.rows?.blobs ?? []), { sha256: record.sha256, bytes: small }], unmaterialised: [{ path: record.path, version: record.version }] };
      await layout.makeParent(file, smallFolders);
      pending.put.push({ record });
    } else {
      const temp = await this.#fetchTemp(change, options.fetchContent);
      // A folder of this name (its record replaced, its contents removed above) leaves its empty folders.
      if (live?.type === 'folder' || victims.length) {
        await removeEmptyTree(file);
        dropSyncsUnder(pending, file);
      }
      await intend(this.#ctx, change, pending); // a crash before the commit adopts this change at start (intents.ts)
      await layout.place(temp, { to: change.path, pending });
      crashPoint('apply-after-rename');
      const st = await fsp.stat(file);
      pending.put.push({ record, local: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } });
    }
    const away = await this.#leaveFrom(change, pending);
    await commits.commit(pending);
    this.#ctx.cache.delete(change.path);
    if (small) {
      this.#ctx.cache.set(change.path, record.version, small);
      await writePlain(this.#ctx, record, { bytes: small, dirs: smallFolders.syncDirs });
    }
    if (record.deleted || killer) await layout.prune(dirname(file));
    for (const { loser } of clashes) if (loser !== record) await this.#left(loser.path);
    if (away) await this.#left(change.from!);
    return { outcome: 'applied', loser: live && publicRecord(live), clashes: clashes.length ? clashes : undefined };
  }

  /**
   * Removes `loser`, which clashes with `winner` (clash.ts): a file's bytes
   * kept as a revision, a folder's (empty by now: deeper records go first)
   * removed; its path gets the clash tombstone, logged like a delete.
   */
  async #remove(loser: Entry, options: { winner: FileRecord; pending: Pending }): Promise<void> {
    const { layout } = this.#ctx;
    const { pending } = options;
    const file = layout.filePath(loser.path);
    if (loser.type === 'file') {
      const st = await fsp.lstat(file).catch(() => undefined);
      // A small file's bytes are in the index (small_files.ts): kept as a revision even when its plain file is not written.
      if (st?.isFile() || (loser.size <= BLOB_MAX && this.#ctx.index.hasBlob(loser.sha256))) {
        await layout.retire(loser, pending);
        await fsp.rm(file, { force: true });
      } else if (await exists(layout.revPath(loser))) {
        pending.revisions.push(publicRecord(loser)); // kept by an attempt that did not commit
      }
    } else {
      await removeFoldersLeft(file);
      dropSyncsUnder(pending, file);
    }
    layout.forgetFolders();
    (pending.syncDirs ??= []).push(dirname(file));
    const tombstone = clashTombstone(loser, options.winner);
    pending.changes.push(tombstone);
    pending.put.push({ record: recordOf(tombstone) });
  }

  /**
   * Keeps a remote file version that does not take its path as a revision:
   * a small one's bytes in the index (small_files.ts), a larger one's as a
   * file in revs/.
   */
  async #keepAsRevision(change: Change, fetchContent: ContentSource, pending: Pending): Promise<void> {
    const record = recordOf(change);
    if (record.size <= BLOB_MAX) {
      const bytes = await this.#fetchBytes(change, fetchContent);
      pending.rows = { ...pending.rows, blobs: [...(pending.rows?.blobs ?? []), { sha256: record.sha256, bytes }] };
    } else {
      const { layout } = this.#ctx;
      const temp = await this.#fetchTemp(change, fetchContent);
      const target = layout.revPath(record);
      await layout.makeParent(target, pending);
      await fsp.rename(temp, target);
      (pending.syncDirs ??= []).push(dirname(target));
    }
    pending.revisions.push(record);
  }

  /**
   * A version far ahead of this node's clock (clock.ts) would drag every
   * later version of this node with it, and one forged notice of
   * `ffffffffffff-ffff-…` would leave no version to mint: refused, never applied.
   */
  #refuseAhead(change: Change): void {
    if (!this.#ctx.clock.tooFarAhead(change.version)) return;
    throw new NuvemError('bad_request', `Cannot apply ${change.version} of "${change.path}" from ${change.origin}: more than a minute ahead of this node's clock`, {
      aheadOfClock: true,
    });
  }

  /**
   * Counts a remote change as applied without its content (gone everywhere);
   * a move still leaves its tombstone at `from`.
   */
  markApplied(change: Change, options: { advance: boolean }): Promise<void> {
    const advance = options.advance ? { origin: change.origin, seq: change.seq } : undefined;
    this.#refuseAhead(change);
    return this.#ctx.locks.withPaths(pathsOf(change), async () => {
      this.#ctx.clock.observe(change.version);
      const pending: Pending = { changes: [change], put: [], revisions: [], advance };
      const away = await this.#leaveFrom(change, pending);
      await this.#ctx.commits.commit(pending);
      if (away) await this.#left(change.from!);
    });
  }

  /**
   * The tombstone a move leaves at `from`, when it wins over what is there
   * (a file still at `from`, not renamed to `to`, is kept as a revision and
   * removed). Whatever becomes of the record at `to` (applied, already here,
   * or losing), so a node that applied a move holds its tombstone too: the
   * purge (purge.ts) relies on every node that applied a change ranking at
   * least as high on its paths. True if `from` changed.
   */
  async #leaveFrom(change: Change, pending: Pending): Promise<boolean> {
    const tombstone = fromTombstoneOf(change, recordOf(change));
    if (!tombstone) return false;
    const { index, layout } = this.#ctx;
    const entry = index.get(tombstone.path);
    if (entry && !wins(tombstone, entry)) return false;
    const file = layout.filePath(tombstone.path);
    // A small file whose plain file was never written (its bytes are in the index: small_files.ts) is kept too;
    // one renamed to `to` by this change is not.
    const unwritten = entry && !entry.local && entry.size <= BLOB_MAX && index.hasBlob(entry.sha256);
    if (entry && !entry.deleted && entry.type === 'file' && (unwritten || (await exists(file)))) {
      await layout.retire(entry, pending);
      await fsp.rm(file, { force: true });
      (pending.syncDirs ??= []).push(dirname(file));
    }
    pending.put.push({ record: tombstone });
    return true;
  }

  /** After a commit that removed `from`: forgets its cached bytes and the folders it left empty. */
  async #left(from: string): Promise<void> {
    this.#ctx.cache.delete(from);
    await this.#ctx.layout.prune(dirname(this.#ctx.layout.filePath(from)));
  }

  /**
   * A small change's bytes in memory, verified: from the index when this
   * node holds them, the copy its origin pushed, a local file of the same
   * SHA-256, else fetched (each copy that fails its hash, the next).
   */
  async #fetchBytes(change: Change, fetchContent: ContentSource): Promise<Uint8Array> {
    const { index, staging, layout } = this.#ctx;
    const inIndex = index.blob(change.sha256);
    if (inIndex && inIndex.byteLength === change.size) return inIndex;
    const staged = await staging.takeSmall(change.origin, change.sha256, change.size);
    const copies: ContentSource[] = [];
    if (staged) copies.push(async () => oneChunk(staged));
    const local = layout.contentFile(change.sha256);
    if (local) copies.push(async () => createReadStream(local) as AsyncIterable<Uint8Array>);
    return firstVerified(change, copies, fetchContent, (body) => collectVerified(body, change));
  }

  /**
   * Content for a remote change, in a temp file, verified: the copy its
   * origin pushed while the upload streamed in, or a local copy of the same
   * SHA-256 when there is one (no transfer), else fetched.
   */
  async #fetchTemp(change: Change, fetchContent: ContentSource): Promise<string> {
    const staged = await this.#ctx.staging.take(change.origin, change.sha256, change.size);
    if (staged) return staged;
    const local = this.#ctx.layout.contentFile(change.sha256);
    const copies: ContentSource[] = [];
    if (local) copies.push(async () => createReadStream(local) as AsyncIterable<Uint8Array>);
    return firstVerified(change, copies, fetchContent, async (body) => {
      // Never more than the record says: a peer sending more is cut off, not buffered to the disk's end.
      const temp = await writeTemp(this.#ctx.layout.tmpDir, body, { maxSize: change.size });
      if (temp.sha256 === change.sha256 && temp.size === change.size) return temp.path;
      await fsp.rm(temp.path, { force: true });
      return undefined;
    });
  }
}

/**
 * The first copy of a change's content whose body `take` accepts: the local
 * `copies`, then up to MAX_FETCHES fetches (each from the next member).
 * `take` returns the content verified against the change's SHA-256, or
 * undefined for a copy that fails it; a copy that fails or breaks is
 * followed by the next, and a fetch that finds no copy left ends the search.
 */
async function firstVerified<T>(
  change: Change,
  copies: ContentSource[],
  fetchContent: ContentSource,
  take: (body: AsyncIterable<Uint8Array>) => Promise<T | undefined>,
): Promise<T> {
  const sources = [...copies, ...Array<ContentSource>(MAX_FETCHES).fill(fetchContent)];
  let lastError: unknown;
  for (const source of sources) {
    let body: AsyncIterable<Uint8Array>;
    try {
      body = await source();
    } catch (err) {
      lastError ??= err;
      if (source === fetchContent) break; // no copy left
      continue;
    }
    let out: T | undefined;
    try {
      out = await take(body);
    } catch (err) {
      lastError = err;
      continue;
    }
    if (out !== undefined) return out;
    lastError = new NuvemError('internal', `Content for "${change.path}" did not match its SHA-256; nothing was stored`);
  }
  throw lastError;
}

async function* oneChunk(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** The paths a change touches: a move's two, else its own. */
function pathsOf(change: Change): string[] {
  return change.op === 'move' && change.from ? [change.path, change.from] : [change.path];
}

/** The tombstone a move leaves at its `from` path (undefined for other changes). */
function fromTombstoneOf(change: Change, record: FileRecord): FileRecord | undefined {
  if (change.op !== 'move' || !change.from) return undefined;
  return tombstoneOf(record, change.from, change.fromPrev);
}

/** Folders at or under `dir` were removed: nothing there to fsync (its parent is). */
function dropSyncsUnder(pending: Pending, dir: string): void {
  if (pending.syncDirs) pending.syncDirs = pending.syncDirs.filter((d) => d !== dir && !d.startsWith(dir + '/'));
}

/** Like removeEmptyTree, but a folder that still holds files (records that outrank the clash) stays. */
async function removeFoldersLeft(dir: string): Promise<void> {
  await removeEmptyTree(dir).catch((err) => {
    if ((err as { code?: string }).code !== 'ENOTEMPTY') throw err;
  });
}

/**
 * Removes the folder `dir` and the empty folders under it (what a folder
 * whose records were all removed leaves); a file still in it (an edit
 * nobody indexed yet) stops this with ENOTEMPTY, and the change is retried.
 */
async function removeEmptyTree(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const child = join(dir, name);
    const st = await fsp.lstat(child);
    if (st.isDirectory()) await removeEmptyTree(child);
  }
  await fsp.rmdir(dir);
}
