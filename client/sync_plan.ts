/**
 * The initial reconcile of `nuvem sync` (DESIGN.md section 6). Pure: it reads
 * three snapshots and returns the actions that make both sides equal; the
 * caller does the I/O and records a new base entry after each action.
 *
 * - `local`: what is on disk now, `remote`: the cluster's live records,
 *   `base`: what both sides agreed on at the last sync. Keys are paths
 *   relative to the synced root, `/`-separated, folders listed as entries.
 *   Apply the ignore rules to all three, so that ignoring a path never reads
 *   as deleting it.
 * - A local file whose size and mtime equal its base is unchanged without
 *   hashing; every other local file needs its sha256 ({@linkcode needsHash}),
 *   and {@linkcode planSync} refuses to plan without it.
 * - Local changed: content (or kind) differs from base; only the mtime moved:
 *   unchanged, and the base is refreshed (`adoptBase`). Remote changed: its
 *   version (or kind, or sha256) differs from base. Folders change only by
 *   kind locally, by version remotely.
 * - A delete is honoured only when the other side is unchanged since base;
 *   against a change, the change wins (both directions). Both sides equal
 *   (same sha256, or both folders) is never a conflict. Both changed
 *   differently, or no base and different content, or a file on one side and
 *   a folder on the other (whichever side changed): `conflict`, the local
 *   entry is renamed beside the remote one and uploaded as a new path. A conflict copy
 *   (`conflict_name.ts`) never gets a copy of its own: the local edit is
 *   uploaded over the remote version, which the store keeps as a revision.
 * - A file deleted locally (remote unchanged) whose sha256 appears at a new
 *   local path that no remote record or base holds is a `move`: one MOVE,
 *   no bytes sent. Pairs are taken in path order, each path once; empty
 *   files never pair.
 * - A folder deleted on one side keeps existing when, after the plan, any
 *   path under it still exists (the other side added something there).
 *
 * Actions come in the order they can run: local renames of conflicts, folder
 * creations (parents first), moves, transfers, deletes (children first, so a
 * folder is empty when its turn comes), then base bookkeeping.
 *
 * @example
 * planSync({ local, remote, base }, { host: 'laptop', date: new Date() })
 * // [{ type: 'upload', path: 'a.txt', sha256: '…', size: 3, ifNoneMatch: '*' }, …]
 */
import { conflictName, isConflictCopy } from './conflict_name.ts';
import type { BaseEntry, LocalEntry, RemoteEntry, SyncAction, SyncActionType, SyncState } from './sync_types.ts';

/** Who names conflict copies, and when (see `conflict_name.ts`). */
export interface PlanOptions { host: string; date: Date }

type Change = 'same' | 'touched' | 'changed';

/**
 * The local files that need hashing before {@linkcode planSync}: not yet
 * hashed, and with no file base or a size or mtime that differs from it.
 */
export function needsHash(local: ReadonlyMap<string, LocalEntry>, base: ReadonlyMap<string, BaseEntry>): string[] {
  const paths: string[] = [];
  for (const [path, entry] of local) {
    if (entry.kind !== 'file' || entry.sha256 !== undefined) continue;
    const known = base.get(path);
    if (!known || known.kind !== 'file' || known.size !== entry.size || known.mtimeMs !== entry.mtimeMs) paths.push(path);
  }
  return paths.sort();
}

/** Plans the initial reconcile; throws a `TypeError` when a local file still needs hashing. */
export function planSync(state: SyncState, options: PlanOptions): SyncAction[] {
  const { conflicts, local } = setAsideConflicts(resolveHashes(state), state, options);
  const moves = pairMoves(local, state, new Set(conflicts.map((c) => c.copy)));
  const actions: SyncAction[] = [...conflicts];
  const moved = new Set(moves.flatMap((m) => [m.from, m.to]));
  const paths = new Set(local.keys());
  for (const path of state.remote.keys()) paths.add(path);
  for (const path of state.base.keys()) paths.add(path);
  for (const path of [...paths].sort(compare)) {
    if (moved.has(path)) continue;
    const action = decide(path, local.get(path), state.remote.get(path), state.base.get(path));
    if (action) actions.push(action);
  }
  for (const move of moves) actions.push(move);
  return inRunOrder(keepFoldersWithContent(actions, local, state.remote));
}

/** Local entries with every file's sha256 known (taken from base when the stat is unchanged). */
function resolveHashes(state: SyncState): ReadonlyMap<string, LocalEntry> {
  const missing = needsHash(state.local, state.base);
  if (missing.length > 0) {
    throw new TypeError(`Cannot plan sync: ${missing.length} local file(s) need a sha256 first (see needsHash), e.g. "${missing[0]}"`);
  }
  let all = true;
  for (const entry of state.local.values()) if (entry.kind === 'file' && entry.sha256 === undefined) all = false;
  if (all) return state.local; // every hash known already (a first pass): no copy
  const local = new Map<string, LocalEntry>();
  for (const [path, entry] of state.local) {
    const hashed = entry.kind === 'folder' || entry.sha256 !== undefined;
    local.set(path, hashed ? entry : { ...entry, sha256: state.base.get(path)!.sha256 });
  }
  return local;
}

function localChange(entry: LocalEntry, base: BaseEntry): Change {
  if (entry.kind !== base.kind || (entry.kind === 'file' && entry.sha256 !== base.sha256)) return 'changed';
  if (entry.kind === 'folder' || (entry.size === base.size && entry.mtimeMs === base.mtimeMs)) return 'same';
  return 'touched';
}

function remoteChange(entry: RemoteEntry, base: BaseEntry): Change {
  const same = entry.kind === base.kind && entry.version === base.version &&
    (entry.kind === 'folder' || entry.sha256 === base.sha256);
  return same ? 'same' : 'changed';
}

function sameContent(local: LocalEntry, remote: RemoteEntry): boolean {
  return local.kind === remote.kind && (local.kind === 'folder' || local.sha256 === remote.sha256);
}

/** Whether the local entry at `path` must be renamed aside (a conflict copy is overwritten instead). */
function isConflict(path: string, local: LocalEntry, remote: RemoteEntry, base: BaseEntry | undefined): boolean {
  if (local.kind !== remote.kind) return true;
  if (sameContent(local, remote) || isConflictCopy(path)) return false;
  return !base || (localChange(local, base) === 'changed' && remoteChange(remote, base) === 'changed');
}

/** Renames conflicting local entries (and a folder's contents) to their copies in `local`. */
/** The conflict copies to make, and the local entries with them made (a copy of `given` only when there are some). */
function setAsideConflicts(given: ReadonlyMap<string, LocalEntry>, state: SyncState, options: PlanOptions) {
  const actions: Extract<SyncAction, { type: 'conflict' }>[] = [];
  const conflicting: [string, LocalEntry][] = [];
  for (const [path, entry] of given) {
    const remote = state.remote.get(path);
    if (remote !== undefined && isConflict(path, entry, remote, state.base.get(path))) conflicting.push([path, entry]);
  }
  if (conflicting.length === 0) return { conflicts: actions, local: given };
  const local = new Map(given);
  const copies = new Set<string>();
  const taken = (path: string) => local.has(path) || state.remote.has(path) || copies.has(path);
  for (const [path, entry] of sortedEntries(conflicting)) {
    const copy = conflictName(path, { ...options, taken });
    copies.add(copy);
    const inside = entry.kind === 'folder' ? [...local.keys()].filter((p) => p.startsWith(`${path}/`)) : [];
    for (const inner of [path, ...inside]) {
      local.set(copy + inner.slice(path.length), local.get(inner)!);
      local.delete(inner);
    }
    actions.push({ type: 'conflict', path, copy, kind: entry.kind });
  }
  return { conflicts: actions, local };
}

/**
 * Pairs files deleted locally (remote unchanged) with new local files of the
 * same content. Empty files are left out: a MOVE would save nothing, and any
 * two of them would pair.
 */
function pairMoves(local: ReadonlyMap<string, LocalEntry>, state: SyncState, copies: Set<string>) {
  const departures = [...state.base].filter(([from, base]) => {
    const remote = state.remote.get(from);
    return base.kind === 'file' && base.size > 0 && !local.has(from) && remote && remoteChange(remote, base) === 'same';
  });
  if (departures.length === 0) return [];
  const newFiles = [...local].filter(([path, entry]) =>
    entry.kind === 'file' && entry.size > 0 && !state.remote.has(path) && !state.base.has(path) && !copies.has(path));
  const arrivals = new Map<string, string[]>();
  for (const [path, entry] of sortedEntries(newFiles)) {
    const paths = arrivals.get(entry.sha256!) ?? [];
    if (paths.push(path) === 1) arrivals.set(entry.sha256!, paths);
  }
  const moves: Extract<SyncAction, { type: 'move' }>[] = [];
  for (const [from, base] of sortedEntries(departures)) {
    const remote = state.remote.get(from)!;
    const to = arrivals.get(base.sha256)?.shift();
    if (to !== undefined) moves.push({ type: 'move', from, to, ifMatch: remote.version, sha256: base.sha256 });
  }
  return moves;
}

/** The action for one path (moves and conflict renames already taken out). */
function decide(path: string, local?: LocalEntry, remote?: RemoteEntry, base?: BaseEntry): SyncAction | undefined {
  if (local && remote) return decideBoth(path, local, remote, base);
  // One side only: new or changed there is created on the other side; unchanged since base, the other side deleted it.
  if (local) {
    if (!base || localChange(local, base) === 'changed') return createRemote(path, local);
    return { type: 'deleteLocal', path, kind: local.kind };
  }
  if (remote) {
    if (!base || remoteChange(remote, base) === 'changed') return createLocal(path, remote);
    return { type: 'deleteRemote', path, kind: remote.kind, ifMatch: remote.version };
  }
  return base ? { type: 'forget', path } : undefined;
}

/** Both sides hold `path`, of the same kind, and it is no conflict. */
function decideBoth(path: string, local: LocalEntry, remote: RemoteEntry, base?: BaseEntry): SyncAction | undefined {
  if (sameContent(local, remote)) {
    if (base && localChange(local, base) === 'same' && remoteChange(remote, base) === 'same') return undefined;
    const { kind, size, sha256, version } = remote;
    return { type: 'adoptBase', path, base: { kind, size, mtimeMs: local.mtimeMs, sha256, version } };
  }
  if (base && localChange(local, base) !== 'changed') return createLocal(path, remote);
  // The remote holds the base version, or this is a conflict copy and its local edit wins (the store
  // keeps the version it replaces as a revision): either way, upload over the version seen.
  return { type: 'upload', path, size: local.size, sha256: local.sha256!, ifMatch: remote.version };
}

function createRemote(path: string, entry: LocalEntry): SyncAction {
  if (entry.kind === 'folder') return { type: 'mkdirRemote', path };
  return { type: 'upload', path, size: entry.size, sha256: entry.sha256!, ifNoneMatch: '*' };
}

function createLocal(path: string, entry: RemoteEntry): SyncAction {
  if (entry.kind === 'folder') return { type: 'mkdirLocal', path };
  return { type: 'download', path, version: entry.version, size: entry.size, sha256: entry.sha256 };
}

/**
 * Turns the delete of a folder into its creation on the side that deleted it
 * when anything under it survives the plan. Deepest folders first, so a kept
 * subfolder keeps its parent.
 */
function keepFoldersWithContent(
  actions: SyncAction[], local: ReadonlyMap<string, unknown>, remote: ReadonlyMap<string, unknown>,
): SyncAction[] {
  // Only a folder delete can be turned around: without one (the usual case) nothing to walk.
  if (!actions.some((a) => (a.type === 'deleteLocal' || a.type === 'deleteRemote') && a.kind === 'folder')) return actions;
  const gone = new Set<string>();
  for (const a of actions) {
    if (a.type === 'deleteLocal' || a.type === 'deleteRemote') gone.add(a.path);
    if (a.type === 'move') gone.add(a.from);
  }
  const occupied = new Set<string>();
  for (const path of local.keys()) if (!gone.has(path)) addAncestors(occupied, path);
  for (const path of remote.keys()) if (!gone.has(path)) addAncestors(occupied, path);
  const folderDeletes = actions
    .filter((a) => (a.type === 'deleteLocal' || a.type === 'deleteRemote') && a.kind === 'folder')
    .sort((a, b) => compare(pathOf(b), pathOf(a)));
  const kept = new Map<SyncAction, SyncAction>();
  for (const a of folderDeletes) {
    if (!occupied.has(pathOf(a))) continue;
    kept.set(a, { type: a.type === 'deleteLocal' ? 'mkdirRemote' : 'mkdirLocal', path: pathOf(a) });
    addAncestors(occupied, pathOf(a));
  }
  return actions.map((a) => kept.get(a) ?? a);
}

function addAncestors(into: Set<string>, path: string): void {
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) into.add(path.slice(0, i));
}

const RANK: Record<SyncActionType, number> = {
  conflict: 0, mkdirLocal: 1, mkdirRemote: 1, move: 2, upload: 3, download: 3,
  deleteLocal: 4, deleteRemote: 4, adoptBase: 5, forget: 5,
};

/** Sorts actions into the order they can run (deletes children first, everything else parents first). */
function inRunOrder(actions: SyncAction[]): SyncAction[] {
  return actions.sort((a, b) => {
    const byRank = RANK[a.type] - RANK[b.type];
    if (byRank !== 0) return byRank;
    return RANK[a.type] === 4 ? compare(pathOf(b), pathOf(a)) : compare(pathOf(a), pathOf(b));
  });
}

function pathOf(action: SyncAction): string {
  return action.type === 'move' ? action.to : action.path;
}

/** Sorts `[path, value]` pairs by path, in place. */
function sortedEntries<T>(entries: [string, T][]): [string, T][] {
  return entries.sort(([a], [b]) => compare(a, b));
}

/** Code-unit order: a folder sorts before everything under it. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
