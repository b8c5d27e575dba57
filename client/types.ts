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

/** Told about every request as it goes out (the CLI's `--verbose`). */
export interface RequestInfo {
  method: string;
  url: string;
  /** The base URL the request goes to. */
  node: string;
  /** The node id as the client knows it (its URL when not known yet). */
  nodeId: string;
}

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

/** A request left a node for the next one, or a download resumed elsewhere. */
export interface FailoverInfo {
  method: string;
  path: string;
  /** The node that failed (base URL and id). */
  node: string;
  nodeId: string;
  reason: string;
  /** For a resumed download: the byte it resumes from. */
  resumeAt?: number;
}

export interface ClientOptions {
  /**
   * MQTT broker to discover nodes from (`mqtt://127.0.0.1:1883`): their
   * retained status, change notices and acks. Give this or `nodes`.
   */
  broker?: string;
  /** Base URLs of nodes, e.g. `http://127.0.0.1:7001`, used when there is no broker; their `/status` is polled. */
  nodes?: string[];
  /** Sent as `Authorization: Bearer <token>`, and as the MQTT password. */
  token?: string;
  /** MQTT topic prefix (default `nuvem`). */
  prefix?: string;
  fetch?: FetchLike;
  /** Deadline for an answer's headers, and for a pause in a transfer's bytes (default 10 s). */
  timeoutMs?: number;
  /** How often `/status` is polled when there is no broker, or it is unreachable (default 5 s). */
  pollMs?: number;
  /** How long to wait for the broker and the nodes' retained status (default 3 s). */
  discoveryTimeoutMs?: number;
  /**
   * A node (id or base URL) to send requests to while it can serve them, ahead
   * of closer ones; the others stay there for failover. A `nuvem sync` bound to
   * one node uses it.
   */
  prefer?: string;
  onRequest?: (info: RequestInfo) => void;
  onResponse?: (info: ResponseInfo) => void;
  onFailover?: (info: FailoverInfo) => void;
}

/** `?w=` write concern for changes (DESIGN.md section 3). */
export type WriteConcern = 'auto' | 'majority' | 'all' | number;

export interface ChangeOptions {
  w?: WriteConcern;
  signal?: AbortSignal;
}

/**
 * A function is called for each attempt and must give the same bytes each
 * time: an upload then survives its node failing (it is sent again, whole,
 * to the next). A plain stream can be sent only once.
 */
export type PutBody = ReadableStream<Uint8Array> | (() => ReadableStream<Uint8Array>) | Uint8Array | string | Blob;

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
  /** A `Range` header value (`bytes=0-99`) or a range object; a broken download resumes within it. */
  range?: string | ByteRange;
  /** Read a kept revision instead of the current version. */
  version?: string;
  /**
   * A node (id) known to hold the version wanted, e.g. the origin a change
   * notice names: tried right after the client's preferred node when that
   * one does not hold it yet, ahead of nodes that are closer.
   */
  from?: string;
  /** Node ids not to read from (they served bytes that failed their check). */
  exclude?: readonly string[];
  /**
   * Leave the SHA-256 check of the whole body to the caller (who hashes what
   * it writes anyway): the body is not hashed twice. `Content-Digest` still
   * tells what to expect.
   */
  unverified?: boolean;
  signal?: AbortSignal;
}

export interface RemoveOptions extends ChangeOptions {
  recursive?: boolean;
  /** Erase for good (`?purge=true`): no trash, no kept revisions, on every node. */
  purge?: boolean;
  /** Delete only this version (`If-Match`): 412 when the path moved on. */
  ifMatch?: string;
}

export interface MoveOptions extends ChangeOptions {
  /** `false` sends `Overwrite: F`: fail with 412 when the target exists. Default true. */
  overwrite?: boolean;
  /** Move only this version of the source (`If-Match`): 412 when it moved on. */
  ifMatch?: string;
}

export interface ListOptions {
  recursive?: boolean;
  /** Page size asked of the node. */
  limit?: number;
  signal?: AbortSignal;
}
