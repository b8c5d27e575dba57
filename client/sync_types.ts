/**
 * The vocabulary of `nuvem sync`'s reconcile: the three snapshots it reads and
 * the actions it plans (`sync_plan.ts`). Types only. Paths are relative to the
 * synced root and `/`-separated; folders are entries of their own.
 */

export type EntryKind = 'file' | 'folder';

/** A local entry as scanned; `sha256` only when hashed. */
export interface LocalEntry { kind: EntryKind; size: number; mtimeMs: number; sha256?: string }
/** A live record of the cluster's listing. */
export interface RemoteEntry { kind: EntryKind; size: number; sha256: string; version: string }
/** The last synced state of a path: the local stat, the remote content and version. */
export interface BaseEntry { kind: EntryKind; size: number; mtimeMs: number; sha256: string; version: string }

/** The three snapshots, keyed by relative path. */
export interface SyncState {
  local: ReadonlyMap<string, LocalEntry>;
  remote: ReadonlyMap<string, RemoteEntry>;
  base: ReadonlyMap<string, BaseEntry>;
}

type Upload = { type: 'upload'; path: string; size: number; sha256: string };

/** One step of the reconcile; after each, the caller records the path's new base entry. */
export type SyncAction =
  /** Rename the local entry (a folder with its contents) to `copy`; later actions sync both names. */
  | { type: 'conflict'; path: string; copy: string; kind: EntryKind }
  | { type: 'mkdirLocal'; path: string }
  /** MKCOL; a folder that already exists (implicitly) counts as done. */
  | { type: 'mkdirRemote'; path: string }
  /** MOVE `from` (at the version `ifMatch`) to `to`, with `Overwrite: F`: no bytes sent. */
  | { type: 'move'; from: string; to: string; ifMatch: string; sha256: string }
  /** PUT with `If-Match` of the version it replaces. */
  | Upload & { ifMatch: string }
  /** PUT of a path the remote does not hold. */
  | Upload & { ifNoneMatch: '*' }
  | { type: 'download'; path: string; version: string; size: number; sha256: string }
  /** Runs after everything under the folder was handled; a folder is removed only if empty. */
  | { type: 'deleteLocal'; path: string; kind: EntryKind }
  | { type: 'deleteRemote'; path: string; kind: EntryKind; ifMatch: string }
  /** Both sides hold this already: record it as the base. */
  | { type: 'adoptBase'; path: string; base: BaseEntry }
  /** Gone on both sides: drop the base entry. */
  | { type: 'forget'; path: string };

export type SyncActionType = SyncAction['type'];
