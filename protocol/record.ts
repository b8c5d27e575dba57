/**
 * The record of one path (DESIGN.md section 2), the changes that produce
 * records, and the preconditions a change is checked against. Pure.
 */
import { preconditionFailed } from './errors.ts';

export type EntryType = 'file' | 'folder';

export interface FileRecord {
  path: string;
  type: EntryType;
  version: string;
  size: number;
  sha256: string;
  modified: number;
  contentType: string;
  deleted: boolean;
  origin: string;
  seq: number;
  /** Tombstones: the version they deleted (see conflict.ts). */
  prev?: string;
}

export type ChangeOp = 'put' | 'delete' | 'move' | 'mkcol';

/** One entry of a node's change log: the record as the change left it. */
export interface Change extends FileRecord {
  op: ChangeOp;
  /** For moves: the path the content came from (now a tombstone). */
  from?: string;
  /** The version this change replaced at `path`, if any: tells concurrent writes (conflicts) apart. */
  prev?: string;
  /** For moves: the version of `from` that was moved away. */
  fromPrev?: string;
}

/** Where a current file sits on this node's disk, to notice edits made behind the index's back. */
export interface LocalStat {
  size: number;
  mtimeMs: number;
  ino: number;
}

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Preconditions of a change: `If-Match` versions (or '*') and `If-None-Match`. */
export interface Conditions {
  ifMatch?: string[] | '*';
  ifNoneMatch?: string[] | '*';
}

/** Throws 412 unless `live` (the current live record, if any) meets the conditions. */
export function checkConditions(live: FileRecord | undefined, path: string, c: Conditions): void {
  if (c.ifMatch !== undefined) {
    const ok = live !== undefined && (c.ifMatch === '*' || c.ifMatch.includes(live.version));
    if (!ok) throw preconditionFailed(`"${path}" is not at the version given in If-Match`);
  }
  if (c.ifNoneMatch !== undefined && live !== undefined) {
    if (c.ifNoneMatch === '*' || c.ifNoneMatch.includes(live.version)) {
      throw preconditionFailed(`"${path}" already exists at a version given in If-None-Match`);
    }
  }
}

/** The record a change leaves at its path. */
export function recordOf(change: Change): FileRecord {
  const { op: _op, from: _from, prev, fromPrev: _fp, ...rest } = change;
  const record: FileRecord = { ...rest };
  if (change.deleted && prev !== undefined) record.prev = prev;
  else delete record.prev;
  return record;
}

/**
 * The tombstone that `record`'s change leaves at `path`, deleting version
 * `prev` there (a delete's own path, or the old path of a move).
 */
export function tombstoneOf(record: FileRecord, path: string, prev: string | undefined): FileRecord {
  return { ...record, path, deleted: true, size: 0, sha256: '', contentType: '', prev };
}
