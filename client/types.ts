/**
 * Shapes exchanged with a Nuvem node (DESIGN.md sections 2 and 3).
 */

/** The current state of one path, as a node reports it. */
export interface NuvemRecord {
  path: string;
  /** Hybrid-logical-clock stamp: opaque, totally ordered. */
  version: string;
  size: number;
  /** SHA-256 of the content, lowercase hex. */
  sha256: string;
  /** Milliseconds since the epoch. */
  modified: number;
  contentType?: string;
  deleted?: boolean;
  origin?: string;
  seq?: number;
  /** Node ids holding the change (answers to writes). */
  replicas?: string[];
  [extra: string]: unknown;
}

/** One line of a folder listing. */
export interface NuvemEntry extends NuvemRecord {
  type: 'file' | 'folder';
}

/** What `fetch` the client uses; injectable for tests and other runtimes. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Told about every answer a node gives (the CLI's `--verbose`). */
export interface ResponseInfo {
  method: string;
  url: string;
  status: number;
  /** The base URL the request went to. */
  node: string;
  /** The node id from the `X-Nuvem-Node` header, when present. */
  nodeId: string | null;
}

export interface ClientOptions {
  /** Base URLs of nodes, e.g. `http://127.0.0.1:7001`. At least one. */
  nodes: string[];
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  fetch?: FetchLike;
  onResponse?: (info: ResponseInfo) => void;
}

/** `?w=` write concern for changes (DESIGN.md section 3). */
export type WriteConcern = 'auto' | 'majority' | 'all' | number;

export interface ChangeOptions {
  w?: WriteConcern;
  signal?: AbortSignal;
}

export type PutBody = ReadableStream<Uint8Array> | Uint8Array | string | Blob;

export interface PutOptions extends ChangeOptions {
  contentType?: string;
  /** Replace only this version (`If-Match`). */
  ifMatch?: string;
  /** `'*'`: create only, never replace (`If-None-Match: *`). */
  ifNoneMatch?: '*';
  /** Byte count of the body; sent as `Content-Length` and used for progress. */
  size?: number;
  /** SHA-256 of the body, lowercase hex; sent as `Content-Digest` (RFC 9530). */
  sha256?: string;
  /** Called with the bytes sent so far. */
  onProgress?: (sent: number) => void;
}

export interface ByteRange {
  start: number;
  /** Inclusive; omitted means to the end. */
  end?: number;
}

export interface GetOptions {
  /** A `Range` header value (`bytes=0-99`) or a range object. */
  range?: string | ByteRange;
  /** Read a kept revision instead of the current version. */
  version?: string;
  signal?: AbortSignal;
}

export interface RemoveOptions extends ChangeOptions {
  recursive?: boolean;
}

export interface MoveOptions extends ChangeOptions {
  /** `false` sends `Overwrite: F`: fail with 412 when the target exists. Default true. */
  overwrite?: boolean;
}

export interface ListOptions {
  recursive?: boolean;
  /** Page size asked of the node. */
  limit?: number;
  signal?: AbortSignal;
}
