/** The record of one path (DESIGN.md section 2) and the changes that produce records. */
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
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
