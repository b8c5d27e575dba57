/**
 * Live planning for `nuvem sync`: which paths a partial plan must see when
 * only some paths changed, and a local rename in place of a download. Pure.
 *
 * `planSync` plans over whatever maps it is given; given only the changed
 * paths it would miss what pairs with them. {@linkcode expandScope} adds:
 * - the ancestors of each changed path (a new folder comes with its file);
 * - everything under a changed path that is a folder on any side (a folder
 *   renamed, deleted or created with its contents), and under an ancestor
 *   that is a folder on some side but not the same folder on all three (an
 *   ancestor all three agree on brings nothing: a live pass for one file
 *   of a 1,000-file folder plans that file, not the folder);
 * - the other half of a move: for a file gone locally, the new local files
 *   with its content; for a new local file, the vanished files it may have
 *   been.
 *
 * {@linkcode changedPaths} is where a full pass starts: every path but those
 * the three sides agree on, so an unchanged tree of 100 000 files is planned
 * over nothing instead of copied whole into the planner.
 *
 * {@linkcode pairLocalRenames} turns a download whose content a file about
 * to be deleted locally already has (a move on the other side) into a local
 * rename: no bytes fetched.
 *
 * @example
 * const scope = expandScope(['b/x.bin'], { local, remote, base }); // also 'a/x.bin' if x.bin moved from a/ to b/
 * planSync({ local: restrict(local, scope), remote: restrict(remote, scope), base: restrict(base, scope) }, opts);
 */
import type { BaseEntry, SyncAction, SyncState } from './sync_types.ts';

/** A file renamed locally instead of downloaded: `from` holds the content `to` should get. */
export interface LocalRename {
  type: 'renameLocal';
  from: string;
  to: string;
  version: string;
  size: number;
  sha256: string;
}

export type ExecAction = SyncAction | LocalRename;

/** The paths a partial plan for `dirty` must look at. */
export function expandScope(dirty: Iterable<string>, state: SyncState): Set<string> {
  const scope = new Set<string>();
  const changed = new Set(dirty);
  for (const path of changed) {
    scope.add(path);
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) scope.add(path.slice(0, i));
  }
  const maps = [state.local, state.remote, state.base];
  const folders = new Set([...scope].filter((p) => maps.some((m) => m.get(p)?.kind === 'folder') && (changed.has(p) || !agreedFolder(p, state))));
  if (folders.size > 0) {
    for (const map of maps) for (const path of map.keys()) if (underAny(path, folders)) scope.add(path);
  }
  const departures = new Set<string>();
  const arrivals = new Set<string>();
  for (const path of scope) {
    const base = state.base.get(path);
    const local = state.local.get(path);
    if (base?.kind === 'file' && base.size > 0 && !state.local.has(path)) departures.add(base.sha256);
    if (local?.kind === 'file' && local.sha256 !== undefined && local.size > 0 && !state.base.has(path)) arrivals.add(local.sha256);
  }
  if (departures.size > 0) {
    for (const [path, e] of state.local) if (e.sha256 !== undefined && departures.has(e.sha256) && !state.base.has(path)) scope.add(path);
  }
  if (arrivals.size > 0) {
    for (const [path, e] of state.base) if (e.kind === 'file' && arrivals.has(e.sha256) && !state.local.has(path)) scope.add(path);
  }
  return scope;
}

/** A folder on all three sides, the remote one at the base's version: nothing to plan for it. */
function agreedFolder(path: string, state: SyncState): boolean {
  const base = state.base.get(path);
  return base?.kind === 'folder' && state.local.get(path)?.kind === 'folder' && state.remote.get(path)?.kind === 'folder' &&
    state.remote.get(path)!.version === base.version;
}

/**
 * The paths where local, remote and base do not all agree (a full pass
 * plans these, through {@linkcode expandScope}). A path agrees when all
 * three hold it with the same kind and, for a file, local size and mtime
 * equal to base (so no hashing is needed) and remote version and sha256
 * equal to base; for a folder, remote version equal to base. Paths for
 * which `ignore` holds are left out, as the planner never sees them.
 */
export function changedPaths(state: SyncState, ignore: (path: string, folder: boolean) => boolean): string[] {
  const out: string[] = [];
  for (const [path, b] of state.base) {
    const l = state.local.get(path);
    const r = state.remote.get(path);
    const agree = l !== undefined && r !== undefined && l.kind === b.kind && r.kind === b.kind && r.version === b.version &&
      (b.kind === 'folder' || (l.size === b.size && l.mtimeMs === b.mtimeMs && r.sha256 === b.sha256));
    if (!agree && !ignore(path, b.kind === 'folder')) out.push(path);
  }
  for (const path of state.local.keys()) if (!state.base.has(path)) out.push(path);
  for (const [path, r] of state.remote) if (!state.base.has(path) && !state.local.has(path) && !ignore(path, r.kind === 'folder')) out.push(path);
  return out;
}

/** Is `path` strictly under one of `folders`? */
function underAny(path: string, folders: ReadonlySet<string>): boolean {
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) if (folders.has(path.slice(0, i))) return true;
  return false;
}

/** The entries of `map` whose path is in `scope`. */
export function restrict<T>(map: ReadonlyMap<string, T>, scope: ReadonlySet<string>): Map<string, T> {
  const out = new Map<string, T>();
  if (scope.size < map.size) {
    for (const path of scope) {
      const value = map.get(path);
      if (value !== undefined) out.set(path, value);
    }
  } else {
    for (const [path, value] of map) if (scope.has(path)) out.set(path, value);
  }
  return out;
}

/**
 * Replaces each download whose sha256 a locally deleted file had (that file
 * unchanged since base, so its content is the base's) with a rename of that
 * file; its `deleteLocal` goes. Pairs in path order, each file once.
 */
export function pairLocalRenames(actions: readonly SyncAction[], base: ReadonlyMap<string, BaseEntry>): readonly ExecAction[] {
  const leaving = new Map<string, string[]>();
  for (const a of actions) {
    if (a.type !== 'deleteLocal' || a.kind !== 'file') continue;
    const b = base.get(a.path);
    if (!b || b.kind !== 'file' || b.size === 0) continue;
    const list = leaving.get(b.sha256) ?? [];
    if (list.push(a.path) === 1) leaving.set(b.sha256, list);
  }
  if (leaving.size === 0) return actions;
  const renamed = new Set<string>();
  const out: ExecAction[] = actions.map((a) => {
    if (a.type !== 'download' || a.size === 0) return a;
    const from = leaving.get(a.sha256)?.shift();
    if (from === undefined) return a;
    renamed.add(from);
    return { type: 'renameLocal', from, to: a.path, version: a.version, size: a.size, sha256: a.sha256 };
  });
  return out.filter((a) => a.type !== 'deleteLocal' || !renamed.has(a.path));
}
