/**
 * This node's own writes: uploads, folders, deletes and moves. Each follows
 * one protocol: the content is streamed to a temp file and fsynced; under the
 * path's lock the replaced content is linked into revs/, the temp file renamed
 * into place and its folder fsynced (layout.ts); then the index commits,
 * grouped with concurrent commits (commit_pipeline.ts).
 */
import { existsSync, promises as fsp } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { dirname } from 'node:path';
import type { Pending } from './commit_pipeline.ts';
import { diskError, makeFolders, writeTemp } from './disk.ts';
import { conflict, NuvemError, notFound, preconditionFailed } from '../protocol/errors.ts';
import type { PutOptions } from '../functions/deps.ts';
import type { Entry, IndexDb } from './index_db.ts';
import { hasChildren } from './listing.ts';
import { ancestorsOf } from '../protocol/paths.ts';
import { checkConditions, type Conditions, DEFAULT_CONTENT_TYPE, type FileRecord, tombstoneOf } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';
import { BLOB_MAX, putSmall, readSmallBody } from './small_files.ts';
import { crashPoint, intend } from './intents.ts';
import { liveUnder, moveFolder } from './folder_move.ts';

/** Entries of a recursive delete committed together. */
const REMOVE_BATCH = 500;

export class LocalWrites {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Stores a file from a streamed body. */
  async put(path: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<{ record: FileRecord; created: boolean }> {
    const { layout, cache } = this.#ctx;
    this.#checkFileSlot(path, options);
    const read = await readSmallBody(body, BLOB_MAX);
    if ('bytes' in read) {
      checkDigest(options, read.sha256);
      return putSmall(this.#ctx, path, { ...read, options, check: () => this.#checkFileSlot(path, options) });
    }
    const temp = await writeTemp(layout.tmpDir, read.rest, { keepSmall: cache.maxFileBytes });
    let placed = false;
    try {
      checkDigest(options, temp.sha256);
      return await this.#ctx.locks.withPaths([path], async () => {
        const current = this.#checkFileSlot(path, options);
        const record = this.#ctx.newRecord(path, {
          type: 'file',
          size: temp.size,
          sha256: temp.sha256,
          contentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
        });
        const pending: Pending = { changes: [{ ...record, op: 'put', prev: current?.version }], put: [], revisions: [] };
        if (current) await layout.retire(current, pending);
        // Durable before the rename: a crash before the commit adopts this version at start (intents.ts).
        await intend(this.#ctx, pending.changes[0], pending);
        await layout.place(temp.path, { to: path, pending });
        placed = true;
        crashPoint('put-after-rename');
        pending.put.push({ record, local: temp.stat });
        await this.#ctx.commits.commit(pending);
        if (temp.small) cache.set(path, record.version, temp.small);
        return { record, created: !current };
      });
    } finally {
      if (!placed) await fsp.rm(temp.path, { force: true });
    }
  }

  /** Creates an empty folder. */
  mkcol(path: string): Promise<FileRecord> {
    const { index } = this.#ctx;
    return this.#ctx.locks.withPaths([path], async () => {
      const e = index.get(path);
      if ((e && !e.deleted) || hasChildren(index, path)) {
        throw new NuvemError('method_not_allowed', `"${path}" already exists`, { allow: 'GET, HEAD, PUT, DELETE, MOVE' });
      }
      checkParents(index, path);
      const record = this.#ctx.newRecord(path, { type: 'folder', size: 0, sha256: '', contentType: '' });
      const changed = await makeFolders(this.#ctx.layout.filePath(path));
      await this.#ctx.commits.commit({ changes: [{ ...record, op: 'mkcol', prev: e?.version }], put: [{ record }], revisions: [], syncDirs: changed });
      return record;
    });
  }

  /** Deletes a file, or a folder with `recursive`; returns the tombstones. */
  async remove(path: string, options: Conditions & { recursive?: boolean } = {}): Promise<FileRecord[]> {
    const { index, locks, layout } = this.#ctx;
    const e = index.get(path);
    const live = e && !e.deleted ? e : undefined;
    if (live?.type === 'file') {
      return locks.withPaths([path], async () => [await this.#removeOne(path, options)]);
    }
    if (!live && !hasChildren(index, path)) throw notFound(path);
    return locks.withTree(async () => {
      const inside = await liveUnder(index, path, REMOVE_BATCH);
      if (inside.length > 0 && !options.recursive) {
        throw conflict(`"${path}" is a folder that is not empty; delete it with ?recursive=true`);
      }
      checkConditions(index.get(path), path, options);
      const tombstones: FileRecord[] = [];
      // Deepest first, REMOVE_BATCH per commit, yielding between them: a folder of
      // 50,000 files takes 100 commits, not 50,000, and never holds other requests.
      const all = [...inside.reverse().map((e) => e.path), ...(live ? [path] : [])];
      for (let i = 0; i < all.length; i += REMOVE_BATCH) {
        const pending: Pending = { changes: [], put: [], revisions: [] };
        for (const p of all.slice(i, i + REMOVE_BATCH)) tombstones.push(await this.#removeInto(p, {}, pending));
        // A folder emptied and removed in this batch needs no fsync (its parent's records its removal).
        pending.syncDirs = [...new Set(pending.syncDirs)].filter((d) => existsSync(d));
        await this.#ctx.commits.commit(pending);
        for (const change of pending.changes) this.#ctx.cache.delete(change.path);
        for (const dir of [...new Set(pending.syncDirs)].sort().reverse()) await layout.prune(dir);
        await setImmediate();
      }
      await layout.prune(layout.filePath(path));
      return tombstones;
    });
  }

  /** Renames a file or a folder with its subtree; no content is copied. Returns the new records. */
  async move(from: string, to: string, options: Conditions & { overwrite?: boolean } = {}): Promise<FileRecord[]> {
    if (from === to) throw conflict('The source and the destination are the same path');
    if (to.startsWith(from + '/')) throw conflict(`Cannot move "${from}" into itself`);
    const { index, locks } = this.#ctx;
    const source = index.get(from);
    // A small file's plain file may not be synced yet: it is, before it moves (small_files.ts).
    await this.#ctx.materialiser.settle();
    if (source && !source.deleted && source.type === 'file') {
      return locks.withPaths([from, to], async () => [await this.#moveFile(from, to, options)]);
    }
    return locks.withTree(async () => {
      // The source may have become a file (replication) while this waited.
      const again = index.get(from);
      if (again && !again.deleted && again.type === 'file') return [await this.#moveFile(from, to, options)];
      return this.#moveFolder(from, to, options);
    });
  }

  /** Checks that a file may be written at `path`; returns the live record it replaces. */
  #checkFileSlot(path: string, conditions: Conditions): Entry | undefined {
    const { index } = this.#ctx;
    const e = index.get(path);
    const live = e && !e.deleted ? e : undefined;
    if (live?.type === 'folder' || (!live && hasChildren(index, path))) {
      throw conflict(`"${path}" is a folder`);
    }
    checkParents(index, path);
    checkConditions(live, path, conditions);
    return live;
  }

  async #removeOne(path: string, conditions: Conditions): Promise<FileRecord> {
    const pending: Pending = { changes: [], put: [], revisions: [] };
    const tombstone = await this.#removeInto(path, conditions, pending);
    await this.#ctx.commits.commit(pending);
    this.#ctx.cache.delete(path);
    await this.#ctx.layout.prune(dirname(this.#ctx.layout.filePath(path)));
    return tombstone;
  }

  /** Removes a file or folder from disk (keeping a file as a revision) and adds its tombstone to `pending`. */
  async #removeInto(path: string, conditions: Conditions, pending: Pending): Promise<FileRecord> {
    const { index, layout } = this.#ctx;
    const e = index.get(path);
    if (!e || e.deleted) throw notFound(path);
    checkConditions(e, path, conditions);
    const tombstone = tombstoneOf(this.#ctx.newRecord(path, { type: e.type, size: 0, sha256: '', contentType: '' }), path, e.version);
    pending.changes.push({ ...tombstone, op: 'delete' });
    pending.put.push({ record: tombstone });
    await layout.retire(e, pending);
    const file = layout.filePath(path);
    try {
      if (e.type === 'file') await fsp.rm(file, { force: true });
      else await fsp.rmdir(file).catch(() => {});
      pending.syncDirs = [...(pending.syncDirs ?? []), dirname(file)];
    } catch (err) {
      throw diskError(err);
    }
    return tombstone;
  }

  async #moveFile(from: string, to: string, options: Conditions & { overwrite?: boolean }): Promise<FileRecord> {
    const { index, layout, cache } = this.#ctx;
    const source = index.get(from);
    if (!source || source.deleted) throw notFound(from);
    checkConditions(source, from, options);
    const target = this.#checkMoveTarget(to, options);
    const record = this.#ctx.newRecord(to, { type: source.type, size: source.size, sha256: source.sha256, contentType: source.contentType });
    const tombstone = tombstoneOf(record, from, source.version);
    const pending: Pending = { changes: [{ ...record, op: 'move', from, prev: target?.version, fromPrev: source.version }], put: [], revisions: [] };
    if (target) await layout.retire(target, pending);
    await layout.place(layout.filePath(from), { to, pending });
    pending.put.push({ record: tombstone }, { record, local: source.local });
    await this.#ctx.commits.commit(pending);
    cache.delete(from);
    cache.delete(to);
    await layout.prune(dirname(layout.filePath(from)));
    return record;
  }

  #checkMoveTarget(to: string, options: { overwrite?: boolean }): Entry | undefined {
    const { index } = this.#ctx;
    const e = index.get(to);
    const live = e && !e.deleted ? e : undefined;
    if ((live || hasChildren(index, to)) && options.overwrite === false) {
      throw preconditionFailed(`"${to}" exists and Overwrite is F`);
    }
    if (live?.type === 'folder' || (!live && hasChildren(index, to))) {
      throw conflict(`"${to}" is a folder; delete it first or choose another destination`);
    }
    checkParents(index, to);
    return live;
  }

  async #moveFolder(from: string, to: string, options: Conditions & { overwrite?: boolean }): Promise<FileRecord[]> {
    const { index } = this.#ctx;
    const self = index.get(from);
    const inside = await liveUnder(index, from);
    if ((!self || self.deleted) && inside.length === 0) throw notFound(from);
    checkConditions(self && !self.deleted ? self : undefined, from, options);
    const toE = index.get(to);
    if ((toE && !toE.deleted) || hasChildren(index, to)) {
      if (options.overwrite === false) throw preconditionFailed(`"${to}" exists and Overwrite is F`);
      throw conflict(`"${to}" exists; delete it first or choose another destination`);
    }
    checkParents(index, to);
    // A small file's plain file written since the settle before the lock is synced too.
    await this.#ctx.materialiser.settle();
    // Durable intent, one rename, then the entries in batches (folder_move.ts).
    return moveFolder(this.#ctx, { from, to, entries: [...(self && !self.deleted ? [self] : []), ...inside] });
  }
}

function checkDigest(options: PutOptions, sha256: string): void {
  if (options.sha256 !== undefined && options.sha256 !== sha256) {
    throw new NuvemError('bad_digest', 'The body does not match its Content-Digest; nothing was stored', {
      expected: options.sha256,
      actual: sha256,
    });
  }
}

/** Refuses a path under a file. */
function checkParents(index: IndexDb, path: string): void {
  for (const a of ancestorsOf(path)) {
    const e = index.get(a);
    if (e && !e.deleted && e.type === 'file') throw conflict(`"${a}" is a file, so "${path}" cannot be created`);
  }
}
