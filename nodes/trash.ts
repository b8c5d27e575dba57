/**
 * The trash: a deleted file stays restorable for the trash period
 * (`--trash-days`, 30 by default), then its tombstone, its revisions and
 * their bytes go, on every node. An erase (`DELETE ?purge=true`) is a delete
 * whose trash period is over before it begins.
 *
 * The rules, the same on every node because they read only replicated records:
 * - A path is **in the trash** while its current record is a tombstone
 *   deleted (`modified`) less than the trash period ago, and the version it
 *   deleted (`prev`) is kept as a revision.
 * - A path whose current record is a tombstone **out of the trash** keeps no
 *   revisions: every node drops them (and their bytes) as soon as it sees that,
 *   when the tombstone commits here and on a sweep (reclaim.ts). The tombstone
 *   itself is forgotten by the purge once every member holds it (purge.ts).
 * - An **erase** writes, for the path and everything under it, a tombstone
 *   with `modified: 0`: out of any trash period, so every node that applies
 *   it drops the path's revisions at once. It ranks above what it erased, so
 *   a lagging node's older copy loses to it, and it stays until the purge
 *   rule says no member can still bring that copy back.
 *
 * @example
 * isInTrash({ deleted: true, modified: Date.now() - 1000 }, { trashMs: 86_400_000, now: Date.now() }) // true
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { Pending } from './commit_pipeline.ts';
import { diskError } from './disk.ts';
import type { Entry } from './index_db.ts';
import { hasChildren } from './listing.ts';
import { conflict, NuvemError, notFound } from '../protocol/errors.ts';
import { subtreeRange } from '../protocol/paths.ts';
import { checkConditions, type Conditions, type FileRecord, tombstoneOf } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';

export const DAY_MS = 86_400_000;
export const DEFAULT_TRASH_DAYS = 30;

export interface TrashClock {
  /** How long a deleted path stays restorable, in ms. */
  trashMs: number;
  /** Now, in ms since the epoch. */
  now: number;
}

/** A deleted path still in the trash: what `GET /trash/` lists. */
export interface TrashEntry {
  path: string;
  type: 'file';
  /** Size of the version a restore brings back. */
  size: number;
  sha256: string;
  contentType: string;
  /** When it was deleted (ms since the epoch). */
  deleted: number;
  /** When it leaves the trash for good (ms since the epoch). */
  expires: number;
  /** The version a restore brings back (the last live one). */
  version: string;
  /** The tombstone's version. */
  deletedVersion: string;
}

/** Is this record a tombstone still in the trash (not necessarily restorable)? */
export function isInTrash(r: Pick<FileRecord, 'deleted' | 'modified'>, clock: TrashClock): boolean {
  return r.deleted && r.modified > clock.now - clock.trashMs;
}

/** Is this record a tombstone out of the trash (its path keeps no revisions)? */
export function isOutOfTrash(r: Pick<FileRecord, 'deleted' | 'modified'> | undefined, clock: TrashClock): boolean {
  return r !== undefined && r.deleted && r.modified <= clock.now - clock.trashMs;
}

/** The tombstone of an erase: out of any trash period (`modified` 0). */
export function isErased(r: Pick<FileRecord, 'deleted' | 'modified'> | undefined): boolean {
  return r !== undefined && r.deleted && r.modified === 0;
}

/** The trash entry of a tombstone, when it is in the trash and the version it deleted is kept. */
function trashEntryOf(ctx: StoreContext, e: Entry, clock: TrashClock): TrashEntry | undefined {
  if (!isInTrash(e, clock) || e.type !== 'file' || e.prev === undefined) return undefined;
  const kept = ctx.index.revision(e.path, e.prev);
  if (!kept) return undefined; // a move's old path: nothing was deleted there
  return {
    path: e.path,
    type: 'file',
    size: kept.size,
    sha256: kept.sha256,
    contentType: kept.contentType,
    deleted: e.modified,
    expires: e.modified + clock.trashMs,
    version: kept.version,
    deletedVersion: e.version,
  };
}

/** Tombstones at `path` and under it, in path order, after `cursor`. */
function* deletedUnder(ctx: StoreContext, path: string, cursor: string | undefined): Generator<Entry> {
  if (path !== '' && (cursor === undefined || cursor < path)) {
    const self = ctx.index.get(path);
    if (self?.deleted) yield self;
  }
  const [lo, hi] = subtreeRange(path);
  let from = cursor !== undefined && cursor > lo ? cursor : lo;
  for (;;) {
    const page = ctx.index.deletedRange(from, hi, 500);
    yield* page;
    if (page.length < 500) return;
    from = page[page.length - 1].path;
  }
}

/**
 * A page of the trash at `path` (a file, or a folder and everything under
 * it; '' for all): `{entries, nextCursor}` in path order.
 */
export function listTrash(
  ctx: StoreContext,
  path: string,
  options: { limit: number; cursor?: string; clock: TrashClock },
): { entries: TrashEntry[]; nextCursor: string } {
  const entries: TrashEntry[] = [];
  for (const e of deletedUnder(ctx, path, options.cursor)) {
    const entry = trashEntryOf(ctx, e, options.clock);
    if (!entry) continue;
    if (entries.length === options.limit) return { entries, nextCursor: entries[entries.length - 1].path };
    entries.push(entry);
  }
  return { entries, nextCursor: '' };
}

/** What a restore brings back: the trash entries at `path` or under it, and whether `path` is a deleted folder. */
export function restorable(ctx: StoreContext, path: string, clock: TrashClock): { files: TrashEntry[]; folder: boolean } {
  const files: TrashEntry[] = [];
  for (const e of deletedUnder(ctx, path, undefined)) {
    const entry = trashEntryOf(ctx, e, clock);
    if (entry) files.push(entry);
  }
  const self = ctx.index.get(path);
  return { files, folder: self !== undefined && self.type === 'folder' && isInTrash(self, clock) };
}

/**
 * Erases `path` (with `recursive`, a folder and everything under it; also
 * what is in the trash there): each path gets an erase tombstone, replicated
 * like a delete, and loses its file and every kept revision here in the same
 * commit. Returns the tombstones written (none when all was erased already).
 */
export function erase(ctx: StoreContext, path: string, options: Conditions & { recursive?: boolean }): Promise<FileRecord[]> {
  const { index, locks } = ctx;
  return locks.withTree(async () => {
    const self = index.get(path);
    const [lo, hi] = subtreeRange(path);
    const inside = index.rangeAll(lo, hi, Number.MAX_SAFE_INTEGER);
    if (!self && inside.length === 0 && index.revisions(path).length === 0) throw notFound(path);
    const live = self && !self.deleted ? self : undefined;
    if (live?.type !== 'file' && hasChildren(index, path) && !options.recursive) {
      throw conflict(`"${path}" is a folder that is not empty; erase it with ?recursive=true`);
    }
    checkConditions(live, path, options);
    const tombstones: FileRecord[] = [];
    for (const e of [...inside.reverse(), ...(self ? [self] : [])]) {
      const t = await eraseOne(ctx, e);
      if (t) tombstones.push(t);
    }
    if (!self) await ctx.commits.commit({ changes: [], put: [], revisions: [], dropRevisions: [path] });
    await ctx.layout.prune(ctx.layout.filePath(path));
    return tombstones;
  });
}

/** Erases one entry (its path's lock is held): its file, its revisions, and an erase tombstone unless it has one. */
async function eraseOne(ctx: StoreContext, e: Entry): Promise<FileRecord | undefined> {
  const pending: Pending = { changes: [], put: [], revisions: [], dropRevisions: [e.path] };
  let tombstone: FileRecord | undefined;
  if (!isErased(e)) {
    const record = ctx.newRecord(e.path, { type: e.type, size: 0, sha256: '', contentType: '' });
    tombstone = { ...tombstoneOf(record, e.path, e.version), modified: 0 };
    pending.changes.push({ ...tombstone, op: 'delete' });
    pending.put.push({ record: tombstone });
  }
  if (!e.deleted) {
    const file = ctx.layout.filePath(e.path);
    try {
      if (e.type === 'file') await fsp.rm(file, { force: true });
      else await fsp.rmdir(file).catch(() => {});
    } catch (err) {
      throw diskError(err);
    }
    pending.syncDirs = [dirname(file)];
  }
  await ctx.commits.commit(pending);
  ctx.cache.delete(e.path);
  return tombstone;
}

/** Paths dropped per commit (each holds its path's lock meanwhile). */
const EXPIRE_BATCH = 200;

/**
 * Drops the revisions (and their bytes) of `paths` whose current record is a
 * tombstone out of the trash; without `paths`, of every such path. Returns
 * how many paths lost their revisions.
 */
export async function expireTrash(ctx: StoreContext, options: { clock: () => TrashClock; paths?: string[] }): Promise<number> {
  let dropped = 0;
  for (;;) {
    const clock = options.clock();
    const paths = options.paths ?? ctx.index.expiredWithRevisions(clock.now - clock.trashMs, EXPIRE_BATCH);
    const before = dropped;
    for (let i = 0; i < paths.length; i += EXPIRE_BATCH) {
      const chunk = paths.slice(i, i + EXPIRE_BATCH);
      dropped += await ctx.locks.withPaths(chunk, async () => {
        const now = options.clock();
        const still = chunk.filter((p) => isOutOfTrash(ctx.index.get(p), now) && ctx.index.revisions(p).length > 0);
        if (still.length) await ctx.commits.commit({ changes: [], put: [], revisions: [], dropRevisions: still });
        return still.length;
      });
    }
    if (options.paths || paths.length < EXPIRE_BATCH || dropped === before) return dropped;
  }
}

/** Refuses a restore of `path` when a live file or folder is there now. */
export function refuseLive(ctx: StoreContext, path: string): void {
  const e = ctx.index.get(path);
  if (e && !e.deleted) {
    throw new NuvemError('conflict', `"${path}" exists now; move it away or delete it before restoring the deleted one`);
  }
}

/** The writes and reads a restore goes through: the store's own, so a restore is an upload like any other. */
export interface RestoreWrites {
  put(path: string, body: AsyncIterable<Uint8Array>, options: Conditions & { contentType?: string; sha256?: string }): Promise<{ record: FileRecord }>;
  mkcol(path: string): Promise<FileRecord>;
  read(path: string, version: string): Promise<{ open(start: number, end: number): Promise<Uint8Array | ReadableStream<Uint8Array>>; close(): Promise<void> }>;
}

/**
 * Brings back what is in the trash at `path`: a deleted file's last live
 * version (or, with `version`, any kept one), or a deleted folder with every
 * file under it still in the trash, each as a new version written like an
 * upload (so it replicates like one; peers find the bytes among their own
 * revisions). A file written at one of those paths since is left as it is
 * (409 when it is `path` itself). Returns the new records.
 */
export async function restoreFromTrash(
  ctx: StoreContext,
  path: string,
  options: { clock: TrashClock; version?: string; writes: RestoreWrites },
): Promise<FileRecord[]> {
  const { writes } = options;
  const current = ctx.index.get(path);
  if (current && !current.deleted && (current.type === 'file' || options.version !== undefined)) refuseLive(ctx, path);
  let files: Pick<TrashEntry, 'path' | 'version' | 'size' | 'sha256' | 'contentType'>[];
  let folder = false;
  if (options.version !== undefined) {
    const kept = ctx.index.revision(path, options.version);
    if (!kept) throw new NuvemError('not_found', `No version "${options.version}" of "${path}" is kept`);
    files = [kept];
  } else {
    ({ files, folder } = restorable(ctx, path, options.clock));
    if (files.length === 0 && !folder) throw new NuvemError('not_found', `Nothing at "${path}" is in the trash`);
  }
  const records: FileRecord[] = [];
  if (folder) records.push(await writes.mkcol(path).catch((err) => {
    if (err instanceof NuvemError && err.code === 'method_not_allowed') return ctx.index.get(path)!;
    throw err;
  }));
  for (const f of files) {
    try {
      records.push(await restoreFile(writes, f));
    } catch (err) {
      const taken = err instanceof NuvemError && (err.code === 'precondition_failed' || err.code === 'conflict');
      if (!taken) throw err;
      if (f.path === path) throw new NuvemError('conflict', `"${path}" exists now; move it away or delete it before restoring the deleted one`);
      // Written again since (or its folder became a file): what is there now stays.
    }
  }
  return records;
}

async function restoreFile(writes: RestoreWrites, f: Pick<TrashEntry, 'path' | 'version' | 'size' | 'sha256' | 'contentType'>): Promise<FileRecord> {
  const readable = await writes.read(f.path, f.version);
  let body: AsyncIterable<Uint8Array>;
  let stream: ReadableStream<Uint8Array> | undefined;
  if (f.size === 0) {
    await readable.close();
    body = chunks(new Uint8Array(0));
  } else {
    const opened = await readable.open(0, f.size - 1);
    if (!(opened instanceof Uint8Array)) stream = opened;
    body = opened instanceof Uint8Array ? chunks(opened) : (opened as unknown as AsyncIterable<Uint8Array>);
  }
  try {
    const { record } = await writes.put(f.path, body, { ifNoneMatch: '*', contentType: f.contentType, sha256: f.sha256 });
    return record;
  } catch (err) {
    await stream?.cancel().catch(() => {});
    throw err;
  }
}

async function* chunks(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  if (bytes.byteLength) yield bytes;
}
