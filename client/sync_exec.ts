/**
 * Runs the actions of a `nuvem sync` plan (`sync_plan.ts`, `sync_scope.ts`)
 * against the local folder and the cluster, and records each path's new base
 * entry. Guarded against the world moving on between plan and action:
 *
 * - Uploads send `If-Match` of the version they replace (`If-None-Match: *`
 *   for new paths) and `Content-Digest`; moves are a `MOVE` with `If-Match`
 *   and `Overwrite: F` (no bytes sent); deletes send `If-Match`. A `412`
 *   (the cluster moved on), a `404`/`409`, or a digest mismatch (the file
 *   changed while uploading) sends the path back to be planned again.
 * - Downloads (`sync_fetch.ts`) come from a node that holds the version
 *   (the client's own, else the change's origin), land in
 *   `.nuvem-sync/tmp/`, are checked against the record the plan expects
 *   (size, SHA-256) and fsynced, and only then renamed into place, after
 *   checking that the local path is still as planned; bytes that fail the
 *   check are fetched again from another node. A local file that
 *   changed since the scan is never overwritten or deleted: the path is
 *   planned again.
 * - A file is deleted locally only after a `HEAD` confirms it is gone from
 *   the cluster (a listing from a node that is behind must not delete it).
 * - When no node can be reached the run stops; the rest is left for later.
 *
 * Transfers run side by side: up to 16 at a time, of which at most 4 of
 * 1 MiB or more (small files are bound by round trips, big ones by
 * bandwidth); every other step runs in plan order.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm, rmdir, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ChangeType } from '../nodes/change_log.ts';
import type { Log } from '../nodes/folder_watcher.ts';
import { contentTypeFor } from './content_type.ts';
import { NuvemHttpError, NuvemNetworkError, NuvemTimeoutError } from './errors.ts';
import { fileStream } from './local_files.ts';
import type { NuvemClient } from './mod.ts';
import { absoluteRemote, relativeRemote, type ListedRecord, type RemoteRecord, type RemoteView } from './remote_view.ts';
import { NoNodeAvailableError } from './selection.ts';
import { fetchVerified, type Fetched } from './sync_fetch.ts';
import type { ExecAction, LocalRename } from './sync_scope.ts';
import type { BaseEntry, EntryKind, LocalEntry, SyncAction } from './sync_types.ts';
import type { NuvemEntry, NuvemRecord } from './types.ts';

/** One change the mirror made, for the change log and the status line. */
export interface SyncChange {
  type: ChangeType;
  path: string;
  from?: string;
  kind: EntryKind;
  size?: number;
  sha256?: string;
  version?: string;
  direction: 'up' | 'down';
}

export interface ExecContext {
  /** The local folder. */
  root: string;
  /** The remote folder (`''`: the root). */
  remoteRoot: string;
  client: NuvemClient;
  /** Where downloads are written before they are renamed into place. */
  tmpDir: string;
  local: Map<string, LocalEntry>;
  view: RemoteView;
  base: ReadonlyMap<string, BaseEntry>;
  setBase(path: string, entry: BaseEntry | undefined): void;
  record(change: SyncChange): void;
  /** Debug lines with timings (`nuvem sync -v`). */
  log?: Log;
  signal: AbortSignal;
  /** Tests: called right after a download is renamed into place, before the mirror records it (an edit at that moment). */
  placed?(path: string): Promise<void>;
}

export interface ExecResult {
  done: number;
  /** Paths to plan again. */
  replan: Set<string>;
  failed: { path: string; error: Error }[];
  /** No node could be reached: the actions from there on were not run. */
  offline?: Error;
  /** Paths of the actions not run. */
  pending: Set<string>;
}

/** The action cannot go ahead as planned: plan these paths again. */
class Replan extends Error {
  readonly paths: string[];
  constructor(reason: string, paths: string[]) {
    super(reason);
    this.paths = paths;
  }
}

/** Errors that mean the cluster cannot be reached now, not that the action is wrong. */
export function isOffline(err: unknown): boolean {
  return err instanceof NuvemNetworkError || err instanceof NuvemTimeoutError || err instanceof NoNodeAvailableError ||
    (err instanceof NuvemHttpError && err.status >= 500 && err.code !== 'write_concern');
}

const RANK: Record<ExecAction['type'], number> = {
  conflict: 0, mkdirLocal: 1, mkdirRemote: 1, move: 2, upload: 3, download: 3, renameLocal: 3,
  deleteLocal: 4, deleteRemote: 4, adoptBase: 5, forget: 5,
};

const TRANSFERS = 16;
const BIG_TRANSFERS = 4;
const BIG_BYTES = 1024 * 1024;

/** Bytes an action moves (0 for what is not a transfer, or not known). */
function bytesOf(action: ExecAction): number {
  return action.type === 'upload' || action.type === 'download' ? action.size : 0;
}

export function pathsOf(action: ExecAction): string[] {
  return action.type === 'move' || action.type === 'renameLocal' ? [action.from, action.to]
    : action.type === 'conflict' ? [action.path, action.copy] : [action.path];
}

/** Runs `actions` (in the order given, transfers of one rank side by side). */
export async function runActions(ctx: ExecContext, actions: readonly ExecAction[]): Promise<ExecResult> {
  const result: ExecResult = { done: 0, replan: new Set(), failed: [], pending: new Set() };
  let i = 0;
  while (i < actions.length && !result.offline) {
    // Base bookkeeping is synchronous: a run of it (100 000 paths adopted by a first pass) goes in one plain loop.
    if (actions[i].type === 'adoptBase' || actions[i].type === 'forget') {
      for (; i < actions.length && (actions[i].type === 'adoptBase' || actions[i].type === 'forget') && !ctx.signal.aborted; i++) {
        try {
          bookkeep(ctx, actions[i] as Bookkeeping);
          result.done++;
        } catch (err) {
          result.failed.push({ path: pathsOf(actions[i])[0], error: err as Error });
        }
      }
      if (ctx.signal.aborted) break;
      continue;
    }
    let j = i + 1;
    if (RANK[actions[i].type] === 3) while (j < actions.length && RANK[actions[j].type] === 3) j++;
    const group = actions.slice(i, j);
    // Downloads land in the temp folder: made once for the group, not once per file.
    if (group.some((a) => a.type === 'download' || a.type === 'renameLocal')) await mkdir(ctx.tmpDir, { recursive: true });
    let next = 0;
    let big = 0;
    const bigFreed: (() => void)[] = [];
    const worker = async () => {
      while (next < group.length && !result.offline && !ctx.signal.aborted) {
        const action = group[next++];
        const heavy = bytesOf(action) >= BIG_BYTES;
        if (heavy) {
          while (big >= BIG_TRANSFERS) await new Promise<void>((resolve) => bigFreed.push(resolve));
          big++;
        }
        try {
          await runOne(ctx, action);
          result.done++;
        } catch (err) {
          if (ctx.signal.aborted) return;
          if (err instanceof Replan) for (const p of err.paths) result.replan.add(p);
          else if (isOffline(err)) {
            result.offline ??= err as Error;
            for (const p of pathsOf(action)) result.pending.add(p);
          } else result.failed.push({ path: pathsOf(action)[0], error: err as Error });
        } finally {
          if (heavy) {
            big--;
            bigFreed.shift()?.();
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(TRANSFERS, group.length) }, worker));
    i = j;
  }
  for (const action of actions.slice(i)) for (const p of pathsOf(action)) result.pending.add(p);
  if (ctx.signal.aborted) for (const action of actions) for (const p of pathsOf(action)) result.pending.add(p);
  return result;
}

async function runOne(ctx: ExecContext, action: ExecAction): Promise<void> {
  switch (action.type) {
    case 'conflict': return conflict(ctx, action);
    case 'mkdirLocal': return mkdirLocal(ctx, action.path);
    case 'mkdirRemote': return mkdirRemote(ctx, action.path);
    case 'move': return move(ctx, action);
    case 'upload': return upload(ctx, action);
    case 'download': return download(ctx, action);
    case 'renameLocal': return renameLocal(ctx, action);
    case 'deleteLocal': return deleteLocal(ctx, action);
    case 'deleteRemote': return deleteRemote(ctx, action);
    case 'adoptBase':
    case 'forget': return bookkeep(ctx, action);
  }
}

type Bookkeeping = Extract<ExecAction, { type: 'adoptBase' | 'forget' }>;

/** The base entry of a path whose two sides agree already (`adoptBase`) or are both gone (`forget`). */
function bookkeep(ctx: ExecContext, action: Bookkeeping): void {
  if (action.type === 'forget') return ctx.setBase(action.path, undefined);
  // The same content: the local entry shares the base's SHA-256 string (100 000 adopted paths, 8 MB less).
  const local = ctx.local.get(action.path);
  if (local?.sha256 !== undefined && local.sha256 === action.base.sha256) local.sha256 = action.base.sha256;
  ctx.view.share(action.path, action.base);
  ctx.setBase(action.path, action.base);
}

// --- local checks

/** The local entry now (kind, size, mtime), without hashing or ignore rules. */
async function lstatEntry(ctx: ExecContext, path: string): Promise<LocalEntry | undefined> {
  try {
    const st = await lstat(join(ctx.root, path));
    if (st.isDirectory()) return { kind: 'folder', size: 0, mtimeMs: 0 };
    return { kind: st.isFile() ? 'file' : 'folder', size: st.size, mtimeMs: st.mtimeMs };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

const sameStat = (a: LocalEntry | undefined, b: LocalEntry | undefined) =>
  a === undefined ? b === undefined : b !== undefined && a.kind === b.kind && (a.kind === 'folder' || (a.size === b.size && a.mtimeMs === b.mtimeMs));

/** Throws `Replan` unless the local path is still as the plan saw it. */
async function expectLocal(ctx: ExecContext, path: string, expected: LocalEntry | undefined): Promise<void> {
  const now = await lstatEntry(ctx, path);
  if (!sameStat(expected, now)) {
    if (now === undefined) ctx.local.delete(path);
    else ctx.local.set(path, now); // unhashed: it gets hashed when planned again
    throw new Replan(`"${path}" changed locally since it was scanned`, [path]);
  }
}

function moveLocalEntries(ctx: ExecContext, from: string, to: string): void {
  for (const [path, entry] of [...ctx.local]) {
    if (path !== from && !path.startsWith(`${from}/`)) continue;
    ctx.local.delete(path);
    ctx.local.set(to + path.slice(from.length), entry);
  }
}

// --- remote answers

const remote = (ctx: ExecContext, path: string) => absoluteRemote(ctx.remoteRoot, path);

function recordOf(r: NuvemRecord | NuvemEntry, kind: EntryKind): RemoteRecord {
  return { kind, size: Number(r.size ?? 0), sha256: String(r.sha256 ?? ''), version: String(r.version ?? ''), deleted: r.deleted === true };
}

function remoteEntryOf(r: NuvemEntry, kind: EntryKind): ListedRecord {
  return { kind, size: Number(r.size ?? 0), sha256: String(r.sha256 ?? ''), version: String(r.version ?? '') };
}

/** A `503 write_concern` answer to a change: stored; its body is the record. */
function storedAnyway(err: unknown): Record<string, unknown> | undefined {
  return err instanceof NuvemHttpError && err.code === 'write_concern' ? err.body : undefined;
}

/** Asks the cluster what is at `path` now and puts it in the view. */
async function refreshRemote(ctx: ExecContext, path: string): Promise<void> {
  try {
    const entry = await ctx.client.stat(remote(ctx, path), { signal: ctx.signal });
    ctx.view.observe(path, recordOf(entry, entry.type === 'folder' ? 'folder' : 'file'));
  } catch (err) {
    if (err instanceof NuvemHttpError && (err.status === 404 || err.status === 409)) ctx.view.observe(path, undefined);
    else throw err;
  }
}

/** Turns the refusals that mean "the cluster moved on" into a `Replan` after refreshing the view. */
async function onRefusal(ctx: ExecContext, err: unknown, paths: string[]): Promise<never> {
  if (err instanceof NuvemHttpError && [404, 409, 412].includes(err.status)) {
    for (const p of paths) await refreshRemote(ctx, p);
    throw new Replan(`${err.status} ${err.code}: ${err.message}`, paths);
  }
  if (err instanceof NuvemHttpError && err.code === 'bad_digest') {
    for (const p of paths) ctx.local.set(p, { ...ctx.local.get(p)!, sha256: undefined }); // hash it again
    throw new Replan(`"${paths[0]}" changed while it was uploaded`, paths);
  }
  throw err;
}

// --- the actions

async function conflict(ctx: ExecContext, a: Extract<SyncAction, { type: 'conflict' }>): Promise<void> {
  if ((await lstatEntry(ctx, a.copy)) !== undefined) throw new Replan(`"${a.copy}" exists already`, [a.path, a.copy]);
  await rename(join(ctx.root, a.path), join(ctx.root, a.copy));
  moveLocalEntries(ctx, a.path, a.copy);
  ctx.record({ type: 'moved', from: a.path, path: a.copy, kind: a.kind, direction: 'down' });
}

async function mkdirLocal(ctx: ExecContext, path: string): Promise<void> {
  const now = await lstatEntry(ctx, path);
  if (now && now.kind !== 'folder') throw new Replan(`"${path}" is a file locally`, [path]);
  if (!now) await mkdir(join(ctx.root, path), { recursive: true });
  ctx.local.set(path, { kind: 'folder', size: 0, mtimeMs: 0 });
  ctx.setBase(path, { kind: 'folder', size: 0, mtimeMs: 0, sha256: '', version: ctx.view.get(path)?.version ?? '' });
  if (!now) ctx.record({ type: 'created', path, kind: 'folder', direction: 'down' });
}

async function mkdirRemote(ctx: ExecContext, path: string): Promise<void> {
  let version: string;
  try {
    const record = await ctx.client.mkdir(remote(ctx, path), { signal: ctx.signal }).catch((err) => storedAnyway(err) ?? Promise.reject(err));
    version = String(record?.version ?? '');
  } catch (err) {
    if (!(err instanceof NuvemHttpError && err.status === 405)) return onRefusal(ctx, err, [path]);
    await refreshRemote(ctx, path); // there already
    const there = ctx.view.get(path);
    if (there?.kind !== 'folder') throw new Replan(`"${path}" is a file in the cluster`, [path]);
    version = there.version;
  }
  if (version !== '') ctx.view.wrote(path, { kind: 'folder', size: 0, sha256: '', version, deleted: false });
  ctx.setBase(path, { kind: 'folder', size: 0, mtimeMs: 0, sha256: '', version });
  ctx.record({ type: 'created', path, kind: 'folder', direction: 'up', version: version || undefined });
}

async function move(ctx: ExecContext, a: Extract<SyncAction, { type: 'move' }>): Promise<void> {
  const target = ctx.local.get(a.to)!;
  let result: NuvemRecord | undefined;
  try {
    result = await ctx.client.move(remote(ctx, a.from), remote(ctx, a.to), { ifMatch: a.ifMatch, overwrite: false, signal: ctx.signal })
      .catch((err) => (storedAnyway(err) as NuvemRecord | undefined) ?? Promise.reject(err));
  } catch (err) {
    return onRefusal(ctx, err, [a.from, a.to]);
  }
  const version = String(result?.version ?? '');
  ctx.view.deleted(a.from, a.ifMatch);
  ctx.view.wrote(a.to, { kind: 'file', size: target.size, sha256: a.sha256, version, deleted: false }, { parent: '' });
  ctx.setBase(a.from, undefined);
  ctx.setBase(a.to, { kind: 'file', size: target.size, mtimeMs: target.mtimeMs, sha256: a.sha256, version });
  ctx.record({ type: 'moved', from: a.from, path: a.to, kind: 'file', size: target.size, sha256: a.sha256, version, direction: 'up' });
}

async function upload(ctx: ExecContext, a: Extract<SyncAction, { type: 'upload' }>): Promise<void> {
  const planned = ctx.local.get(a.path)!;
  await expectLocal(ctx, a.path, planned);
  const file = join(ctx.root, a.path);
  const ifMatch = 'ifMatch' in a ? a.ifMatch : undefined;
  let record: NuvemRecord;
  ctx.log?.('debug', 'Uploading', { path: a.path, size: a.size });
  try {
    record = await ctx.client.put(remote(ctx, a.path), () => fileStream(file), {
      ifMatch, ifNoneMatch: ifMatch === undefined ? '*' : undefined, size: a.size, sha256: a.sha256,
      contentType: contentTypeFor(a.path), signal: ctx.signal,
    }).catch((err) => (storedAnyway(err) as NuvemRecord | undefined) ?? Promise.reject(err));
  } catch (err) {
    return onRefusal(ctx, err, [a.path]);
  }
  const version = String(record.version);
  ctx.view.wrote(a.path, { kind: 'file', size: a.size, sha256: a.sha256, version, deleted: false }, { parent: ifMatch });
  ctx.setBase(a.path, { kind: 'file', size: a.size, mtimeMs: planned.mtimeMs, sha256: a.sha256, version });
  ctx.record({ type: ifMatch === undefined ? 'created' : 'modified', path: a.path, kind: 'file', size: a.size, sha256: a.sha256, version, direction: 'up' });
}

async function download(ctx: ExecContext, a: { path: string; version?: string; size?: number; sha256?: string }): Promise<void> {
  const expected = ctx.local.get(a.path);
  const temp = join(ctx.tmpDir, `${randomBytes(8).toString('hex')}.part`);
  let renamed = false;
  try {
    ctx.log?.('debug', 'Downloading', { path: a.path });
    let fetched: Fetched;
    try {
      fetched = await fetchVerified({
        client: ctx.client, remote: remote(ctx, a.path), temp, signal: ctx.signal,
        expected: a.version ? { version: a.version, size: a.size ?? 0, sha256: a.sha256 ?? '' } : undefined,
        onRetry: ({ node, error }) => ctx.log?.('warn', `Fetching "${a.path}" again from another node`, { path: a.path, node, error: error.message }),
      });
    } catch (err) {
      return onRefusal(ctx, err, [a.path]);
    }
    const { size, sha256, served } = fetched;
    ctx.log?.('debug', 'Download written', { path: a.path, size, node: fetched.node });
    if (served.modified > 0) await utimes(temp, new Date(), new Date(served.modified)).catch(() => {});
    // The stat recorded as the base is the temp file's, taken before the rename: one taken after it could be of an
    // edit made in between, which would then read as unchanged (same size, the mtime recorded) and never go up.
    const st = await lstat(temp);
    const placed: LocalEntry = { kind: 'file', size: st.size, mtimeMs: st.mtimeMs };
    await expectLocal(ctx, a.path, expected);
    await renameMakingFolder(temp, join(ctx.root, a.path));
    renamed = true;
    await ctx.placed?.(a.path);
    ctx.local.set(a.path, { ...placed, sha256 });
    ctx.view.observe(a.path, { kind: 'file', size, sha256, version: served.version, deleted: false });
    ctx.setBase(a.path, { kind: 'file', size, mtimeMs: placed.mtimeMs, sha256, version: served.version });
    ctx.record({ type: expected ? 'modified' : 'created', path: a.path, kind: 'file', size, sha256, version: served.version, direction: 'down' });
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
}

/** Renames `from` to `to`, making `to`'s folder only when the rename says it is missing (one call, not three, per file placed). */
async function renameMakingFolder(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
  }
}

async function renameLocal(ctx: ExecContext, a: LocalRename): Promise<void> {
  const source = await lstatEntry(ctx, a.from);
  const base = ctx.base.get(a.from);
  if (!base || !sameStat({ kind: 'file', size: base.size, mtimeMs: base.mtimeMs }, source)) return download(ctx, { path: a.to, version: a.version, size: a.size, sha256: a.sha256 });
  await expectLocal(ctx, a.to, ctx.local.get(a.to));
  await renameMakingFolder(join(ctx.root, a.from), join(ctx.root, a.to));
  const placed = source!; // the stat from before the rename, as for a download
  ctx.local.delete(a.from);
  ctx.local.set(a.to, { ...placed, sha256: a.sha256 });
  ctx.setBase(a.from, undefined);
  ctx.setBase(a.to, { kind: 'file', size: placed.size, mtimeMs: placed.mtimeMs, sha256: a.sha256, version: a.version });
  ctx.record({ type: 'moved', from: a.from, path: a.to, kind: 'file', size: a.size, sha256: a.sha256, version: a.version, direction: 'down' });
}

async function deleteLocal(ctx: ExecContext, a: Extract<SyncAction, { type: 'deleteLocal' }>): Promise<void> {
  const expected = ctx.local.get(a.path);
  if (a.kind === 'file') {
    await refreshRemote(ctx, a.path);
    if (ctx.view.get(a.path)) throw new Replan(`"${a.path}" is still in the cluster`, [a.path]);
    await expectLocal(ctx, a.path, expected);
    await rm(join(ctx.root, a.path), { force: true });
  } else {
    try {
      await rmdir(join(ctx.root, a.path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new Replan(`"${a.path}" is not empty locally`, [a.path]);
      if (code !== 'ENOENT') throw err;
    }
  }
  ctx.local.delete(a.path);
  ctx.setBase(a.path, undefined);
  if (expected) ctx.record({ type: 'deleted', path: a.path, kind: a.kind, direction: 'down' });
}

async function deleteRemote(ctx: ExecContext, a: Extract<SyncAction, { type: 'deleteRemote' }>): Promise<void> {
  await expectLocal(ctx, a.path, undefined);
  const ifMatch = a.ifMatch === '' ? undefined : a.ifMatch;
  try {
    await ctx.client.remove(remote(ctx, a.path), { ifMatch, signal: ctx.signal }).catch((err) => storedAnyway(err) ?? Promise.reject(err));
  } catch (err) {
    if (!(err instanceof NuvemHttpError && err.status === 404)) return onRefusal(ctx, err, [a.path]);
  }
  ctx.view.deleted(a.path, a.ifMatch);
  ctx.setBase(a.path, undefined);
  ctx.record({ type: 'deleted', path: a.path, kind: a.kind, direction: 'up' });
}

// --- listing

/**
 * Every live record under the remote folder, keyed by relative path (an
 * absent folder lists as empty). A file whose record is the one in `base`
 * (same version, size and SHA-256) is given as that base entry: with 100 000
 * unchanged files, no second object and strings per path.
 */
export async function listRemote(
  client: NuvemClient,
  options: { root: string; base?: ReadonlyMap<string, BaseEntry>; signal?: AbortSignal },
): Promise<Map<string, ListedRecord>> {
  const out = new Map<string, ListedRecord>();
  try {
    for await (const entry of client.entries(options.root, { recursive: true, signal: options.signal })) {
      const rel = relativeRemote(options.root, entry.path);
      if (rel === undefined || entry.deleted) continue;
      const kind = entry.type === 'folder' ? 'folder' : 'file';
      const b = kind === 'file' ? options.base?.get(rel) : undefined;
      const same = b !== undefined && b.kind === 'file' && b.version === entry.version && b.sha256 === entry.sha256 && b.size === Number(entry.size ?? 0);
      out.set(rel, same ? b : remoteEntryOf(entry, kind));
    }
  } catch (err) {
    if (!(err instanceof NuvemHttpError && err.status === 404)) throw err;
  }
  return out;
}
