/**
 * The files folder checked against the index: at start-up, in full rescans,
 * and for the paths the folder watcher reports (DESIGN.md section 6). Plans
 * are pure; `reconcile` carries them out through the commit pipeline. A file
 * whose size, mtime or inode differs from its record is re-hashed (a changed
 * hash becomes a new version); a file the index does not know becomes a new
 * version; a record whose file vanished becomes a tombstone; a vanished file
 * whose bytes appeared at a new path in the same pass is a move. So a crash,
 * or an edit made while the node was down or by hand while it runs, is never
 * silently lost.
 *
 * The node's own writes are never taken for edits: hashing runs outside the
 * locks, then each change is checked again under its paths' locks (the file
 * still as it was hashed, the record still the one planned against) and
 * dropped if anything moved meanwhile. A store write holds those locks until
 * its index commit, which records the file's size, mtime and inode, so after
 * it the file and its record agree.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Pending } from './commit_pipeline.ts';
import { exists, hashFile } from './disk.ts';
import { type Entry, publicRecord } from './index_db.ts';
import { ancestorsOf, parsePath, subtreeRange } from '../protocol/paths.ts';
import { type Change, DEFAULT_CONTENT_TYPE, type FileRecord, type LocalStat, tombstoneOf } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';
import { NuvemError, UsageError } from '../protocol/errors.ts';
import { MARKER, massVanish } from './volume.ts';

export interface OnDisk {
  files: Map<string, LocalStat>;
  /** Every folder, and those of them that hold nothing. */
  folders: Set<string>;
  emptyFolders: Set<string>;
  /** Names that are not valid paths, left alone. */
  skipped: string[];
}

export interface RecoveryPlan {
  /** Records whose file or folder is gone. */
  vanished: Entry[];
  /** Files to hash: changed behind the index's back, or unknown to it. */
  rehash: { path: string; stat: LocalStat; known?: Entry }[];
  /** Empty folders on disk without a record. */
  newFolders: string[];
}

/** Walks the files folder (no symlinks followed). */
export async function scanDisk(filesDir: string): Promise<OnDisk> {
  const out: OnDisk = { files: new Map(), folders: new Set(), emptyFolders: new Set(), skipped: [] };
  await walkInto(out, filesDir, '');
  return out;
}

/**
 * What is on disk at each of `paths` (a folder with its subtree), and which
 * of their ancestors are now empty folders (a file deleted by hand leaves its
 * folder behind, which then is an empty folder of its own).
 */
export async function scanPaths(filesDir: string, paths: Iterable<string>): Promise<OnDisk> {
  const out: OnDisk = { files: new Map(), folders: new Set(), emptyFolders: new Set(), skipped: [] };
  const roots = [...new Set(paths)].sort();
  const ancestors = new Set<string>();
  for (const path of roots) {
    if (roots.some((r) => path.startsWith(r + '/'))) continue; // walked with its folder
    for (const a of ancestorsOf(path)) ancestors.add(a);
    const st = await fsp.lstat(join(filesDir, path)).catch(() => undefined);
    if (st?.isFile()) out.files.set(path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    else if (st?.isDirectory()) {
      out.folders.add(path);
      if ((await walkInto(out, filesDir, path)) === 0) out.emptyFolders.add(path);
    }
  }
  for (const a of ancestors) {
    const names = await fsp.readdir(join(filesDir, a)).catch(() => undefined);
    if (names === undefined) continue;
    out.folders.add(a);
    if (names.length === 0) out.emptyFolders.add(a);
  }
  return out;
}

/** The index entries a scan of `paths` speaks for: each path, its subtree, and its ancestors themselves. */
export function entriesOf(index: StoreContext['index'], paths: Iterable<string>): Entry[] {
  const out = new Map<string, Entry>();
  for (const path of paths) {
    for (const p of [path, ...ancestorsOf(path)]) {
      const e = index.get(p);
      if (e) out.set(p, e);
    }
    const [lo, hi] = subtreeRange(path);
    for (const e of index.range(lo, hi, -1)) out.set(e.path, e);
  }
  return [...out.values()];
}

/** Adds what is under `rel` to `out`; answers how many valid entries `rel` holds. */
async function walkInto(out: OnDisk, filesDir: string, rel: string): Promise<number> {
  const walk = async (rel: string): Promise<number> => {
    const dirents = await fsp.readdir(join(filesDir, rel), { withFileTypes: true });
    let live = 0;
    for (const d of dirents) {
      if (rel === '' && d.name === MARKER) continue; // the volume's marker (volume.ts)
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      let valid: string;
      try {
        valid = parsePath(path);
      } catch {
        out.skipped.push(path);
        continue;
      }
      if (valid !== path) {
        out.skipped.push(path);
        continue;
      }
      if (d.isDirectory()) {
        live++;
        out.folders.add(path);
        if ((await walk(path)) === 0) out.emptyFolders.add(path);
      } else if (d.isFile()) {
        live++;
        const st = await fsp.lstat(join(filesDir, path));
        out.files.set(path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      }
    }
    return live;
  };
  return await walk(rel);
}

export function planRecovery(entries: Iterable<Entry>, disk: OnDisk): RecoveryPlan {
  const plan: RecoveryPlan = { vanished: [], rehash: [], newFolders: [] };
  const known = new Set<string>();
  for (const e of entries) {
    if (e.deleted) continue;
    known.add(e.path);
    if (e.type === 'folder') {
      if (!disk.folders.has(e.path)) plan.vanished.push(e);
      continue;
    }
    const stat = disk.files.get(e.path);
    if (!stat) plan.vanished.push(e);
    else if (!e.local || stat.size !== e.local.size || stat.mtimeMs !== e.local.mtimeMs || stat.ino !== e.local.ino) {
      plan.rehash.push({ path: e.path, stat, known: e });
    }
  }
  for (const [path, stat] of disk.files) if (!known.has(path)) plan.rehash.push({ path, stat });
  for (const path of disk.emptyFolders) if (!known.has(path)) plan.newFolders.push(path);
  return plan;
}


/** A file to record as a new version, hashed against the stat it had. */
interface Hashed {
  path: string;
  stat: LocalStat;
  known?: Entry;
  sha256: string;
}

/**
 * Reconciles the files folder with the index: the whole folder (start-up,
 * rescans), or the paths the watcher reported with their subtrees. Returns
 * the paths that changed and the names left alone.
 */
export async function reconcile(
  ctx: StoreContext,
  options: { paths?: Iterable<string>; acceptVanished?: boolean; startUp?: boolean } = {},
): Promise<{ changed: string[]; skipped: string[]; heldBack: number; deferred: number }> {
  const { index, layout } = ctx;
  layout.forgetFolders();
  const scope = options.paths === undefined ? undefined : [...options.paths].filter(isPath);
  const disk = scope === undefined ? await scanDisk(layout.filesDir) : await scanPaths(layout.filesDir, scope);
  const plan = planRecovery(scope === undefined ? index.all() : entriesOf(index, scope), disk);
  // A full pass that finds most files gone more likely looks at the wrong
  // volume than at a person's deletes (volume.ts): those wait to be told.
  let heldBack = 0;
  if (scope === undefined && !options.acceptVanished && massVanish(plan.vanished.length, index.totals().files)) {
    if (options.startUp) {
      throw new UsageError(
        `${plan.vanished.length} of the ${index.totals().files} files this node knows are gone from ${layout.filesDir}: is the right volume mounted? ` +
          'Nothing was changed. Start with --accept-vanished to record them as deleted.',
      );
    }
    heldBack = plan.vanished.length;
    plan.vanished = [];
  }
  const hashed: Hashed[] = [];
  for (const item of plan.rehash) {
    const sha256 = await hashFile(layout.filePath(item.path)).catch(() => undefined);
    // Still being written (or gone) while it was read: the watcher reports it again once it settles.
    if (sha256 !== undefined && sameStat(await lstatOf(layout.filePath(item.path)), item.stat)) hashed.push({ ...item, sha256 });
  }
  const moves = pairMoves(plan.vanished, hashed);
  const moved = new Set(moves.flatMap((m) => [m.from.path, m.to.path]));
  const work: (() => Promise<string | undefined>)[] = [
    ...moves.map((m) => () => commitMove(ctx, m)),
    ...plan.vanished.filter((e) => !moved.has(e.path)).map((e) => () => commitVanished(ctx, e)),
    ...hashed.filter((h) => !moved.has(h.path)).map((h) => () => commitHashed(ctx, h)),
    ...plan.newFolders.map((path) => () => commitFolder(ctx, path)),
  ];
  // Concurrently, so the commits of one pass share their index flushes (group commit).
  // On a full disk a change waits for a later pass: the node still starts and serves reads.
  let deferred = 0;
  const onFull = (err: unknown) => {
    if (!(err instanceof NuvemError && err.code === 'disk_full')) throw err;
    deferred++;
    return undefined;
  };
  const changed = (await Promise.all(work.map((w) => w().catch(onFull)))).filter((p): p is string => p !== undefined);
  return { changed, skipped: disk.skipped, heldBack, deferred };
}

function isPath(path: string): boolean {
  try {
    return parsePath(path) === path;
  } catch {
    return false;
  }
}

async function lstatOf(file: string): Promise<LocalStat | undefined> {
  const st = await fsp.lstat(file).catch(() => undefined);
  return st?.isFile() ? { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } : undefined;
}

function sameStat(a: LocalStat | undefined, b: LocalStat | undefined): boolean {
  return a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

/** The record at `path` is still the one the plan was made against (by version; absent or a tombstone as absent). */
function unchanged(ctx: StoreContext, path: string, planned: Entry | undefined): boolean {
  const now = ctx.index.get(path);
  const live = now && !now.deleted ? now : undefined;
  return live?.version === planned?.version;
}

/** Files that vanished paired with new files of the same bytes: moves (each path once, in path order). Pure. */
export function pairMoves(vanished: Entry[], hashed: Hashed[]): { from: Entry; to: Hashed }[] {
  const arrivals = new Map<string, Hashed[]>();
  for (const h of [...hashed].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    if (h.known || h.stat.size === 0) continue;
    arrivals.set(h.sha256, [...(arrivals.get(h.sha256) ?? []), h]);
  }
  const out: { from: Entry; to: Hashed }[] = [];
  for (const e of [...vanished].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    if (e.type !== 'file') continue;
    const to = arrivals.get(e.sha256)?.shift();
    if (to) out.push({ from: e, to });
  }
  return out;
}

async function commitMove(ctx: StoreContext, m: { from: Entry; to: Hashed }): Promise<string | undefined> {
  const { from, to } = m;
  return await ctx.locks.withPaths([from.path, to.path], async () => {
    const gone = (await fsp.lstat(ctx.layout.filePath(from.path)).catch(() => undefined)) === undefined;
    if (!gone || !unchanged(ctx, from.path, from) || !unchanged(ctx, to.path, undefined)) return undefined;
    if (!sameStat(await lstatOf(ctx.layout.filePath(to.path)), to.stat)) return undefined;
    const record = ctx.newRecord(to.path, { type: 'file', size: from.size, sha256: from.sha256, contentType: from.contentType });
    const change: Change = { ...record, op: 'move', from: from.path, fromPrev: from.version };
    const pending: Pending = { changes: [change], put: [{ record: tombstoneOf(record, from.path, from.version) }, { record, local: to.stat }], revisions: [], source: 'folder' };
    await ctx.commits.commit(pending);
    ctx.cache.delete(from.path);
    return to.path;
  });
}

async function commitVanished(ctx: StoreContext, e: Entry): Promise<string | undefined> {
  const { layout } = ctx;
  return await ctx.locks.withPaths([e.path], async () => {
    const st = await fsp.lstat(layout.filePath(e.path)).catch(() => undefined);
    const stillGone = e.type === 'file' ? !st?.isFile() : !st?.isDirectory();
    if (!stillGone || !unchanged(ctx, e.path, e)) return undefined;
    const tombstone = tombstoneOf(ctx.newRecord(e.path, { type: e.type, size: 0, sha256: '', contentType: '' }), e.path, e.version);
    const pending: Pending = { changes: [{ ...tombstone, op: 'delete' }], put: [{ record: tombstone }], revisions: [], source: 'folder' };
    if (e.type === 'file' && (await keptContent(ctx, e))) pending.revisions.push(publicRecord(e));
    await ctx.commits.commit(pending);
    ctx.cache.delete(e.path);
    return e.path;
  });
}

async function commitHashed(ctx: StoreContext, h: Hashed): Promise<string | undefined> {
  const { layout } = ctx;
  return await ctx.locks.withPaths([h.path], async () => {
    if (!unchanged(ctx, h.path, h.known) || !sameStat(await lstatOf(layout.filePath(h.path)), h.stat)) return undefined;
    const { known } = h;
    if (known && known.sha256 === h.sha256 && known.size === h.stat.size) {
      // Touched, not changed (or moved back to its inode): only where it sits is new.
      await ctx.commits.commit({ changes: [], put: [{ record: publicRecord(known), local: h.stat }], revisions: [] });
      return undefined;
    }
    const contentType = known?.contentType ?? DEFAULT_CONTENT_TYPE;
    const record = ctx.newRecord(h.path, { type: 'file', size: h.stat.size, sha256: h.sha256, contentType });
    const pending: Pending = { changes: [{ ...record, op: 'put', prev: known?.version }], put: [{ record, local: h.stat }], revisions: [], source: 'folder' };
    if (known && (await keptContent(ctx, known))) pending.revisions.push(publicRecord(known));
    await ctx.commits.commit(pending);
    ctx.cache.delete(h.path);
    return h.path;
  });
}

/** The bytes of `e` are kept apart from its plain file: a revision link, or the index (small files). */
async function keptContent(ctx: StoreContext, e: Entry): Promise<boolean> {
  return ctx.index.hasBlob(e.sha256) || (await exists(ctx.layout.revPath(e)));
}

async function commitFolder(ctx: StoreContext, path: string): Promise<string | undefined> {
  return await ctx.locks.withPaths([path], async () => {
    const st = await fsp.lstat(ctx.layout.filePath(path)).catch(() => undefined);
    const current = ctx.index.get(path);
    if (!st?.isDirectory() || (current && !current.deleted)) return undefined;
    const record: FileRecord = ctx.newRecord(path, { type: 'folder', size: 0, sha256: '', contentType: '' });
    await ctx.commits.commit({ changes: [{ ...record, op: 'mkcol' }], put: [{ record }], revisions: [], source: 'folder' });
    return path;
  });
}
