/**
 * What the HTTP functions need from the node, passed in so that they run on
 * any runtime and in tests without sockets.
 */
import type { Context } from 'hono';
import type { Log } from '../protocol/log.ts';
import type { Change, Conditions, FileRecord } from '../protocol/record.ts';
import type { Metrics } from '../protocol/metrics.ts';
import { type WriteConcern } from '../protocol/write_concern.ts';

/** A listing page: entries in path order and the cursor of the next page ('' at the end). */
export interface Page {
  entries: ListEntry[];
  nextCursor: string;
}

export type ListEntry = (FileRecord & { type: 'file' | 'folder' }) | { path: string; type: 'folder' };

export interface PutOptions extends Conditions {
  contentType?: string;
  /** Expected SHA-256 (hex) of the body; a mismatch stores nothing. */
  sha256?: string;
}

/**
 * A version of a file ready to be read: the content is held open from the
 * lookup on, so it is the version the record describes. Call `open` once, or
 * `close` when no body is sent.
 */
export interface Readable {
  record: FileRecord;
  /** Bytes [start, end] inclusive: in memory for small files, else a stream (which closes the file). */
  open(start: number, end: number): Promise<Uint8Array | ReadableStream<Uint8Array>>;
  close(): Promise<void>;
}

/** What the HTTP functions ask of the node's store (nodes/store.ts implements it). */
export interface StorePort {
  get(path: string): FileRecord | undefined;
  put(path: string, body: AsyncIterable<Uint8Array>, options?: PutOptions): Promise<{ record: FileRecord; created: boolean }>;
  mkcol(path: string): Promise<FileRecord>;
  remove(path: string, options?: Conditions & { recursive?: boolean }): Promise<FileRecord[]>;
  move(from: string, to: string, options?: Conditions & { overwrite?: boolean }): Promise<FileRecord[]>;
  read(path: string, options?: { version?: string }): Promise<Readable>;
  /** A small current file's bytes from memory, when cached. */
  readSmall(path: string): { record: FileRecord; bytes: Uint8Array } | undefined;
  list(folder: string, options: { recursive: boolean; limit: number; cursor?: string }): Page;
  revisions(path: string): FileRecord[];
  /** The trash (nodes/trash.ts): what is restorable at or under `path`; a restore; an erase. */
  trash(path: string, options: { limit: number; cursor?: string }): { entries: object[]; nextCursor: string };
  restore(path: string, options?: { version?: string }): Promise<FileRecord[]>;
  erase(path: string, options?: Conditions & { recursive?: boolean }): Promise<FileRecord[]>;
  changes(since: number, limit: number): { changes: Change[]; cursor: number };
  /** Log ids up to this one are pruned (0: none); `changesEnd`: the newest durable cursor. */
  changesFloor(): number;
  changesEnd(): number;
  /** The highest seq of `origin` pruned from the log (0: none). */
  logFloor(origin: string): number;
  waitForChange(since: number, ms: number, signal?: AbortSignal): Promise<void>;
  /** Node-to-node: content by SHA-256, this node's log for an origin, digests. */
  openContent(sha256: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | undefined>;
  logFor(origin: string, after: number, limit: number): Change[];
  /** A page of that log carrying small files' bytes (base64, by SHA-256), at most `maxBytes` of them. */
  logPage(origin: string, after: number, options: { limit: number; maxBytes: number }): { changes: Change[]; bytes: Record<string, string> };
  applied(): Record<string, number>;
  /** The anti-entropy digest, with the id of the scan it came from. */
  servedDigest(): Promise<{ buckets: Record<string, string>; scan: string }>;
  /** A bucket's records; `scan` names a digest's scan to answer from (so the records match that digest). */
  bucketRecords(bucket: number, scan?: string): Promise<FileRecord[]>;
  /** Pushes of uploads received from peers, kept until their change arrives. */
  staging: { receive(origin: string, size: number, body: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> };
}

/** The cluster's members as a node sees them (`GET /members`), and forgetting one (`DELETE /members/{id}`). */
export interface MembersPort {
  members(): { id: string; url: string; state: string; seenAt: number; heartbeatAgeMs: number | null; verified: boolean }[];
  /** Throws a `conflict` NuvemError for this node itself or a member that is online. */
  forgetMember(id: string): { forgotten: string; wasMember: boolean };
}

export interface Replication {
  /**
   * Waits until `records` are durably applied on as many nodes as `w` asks;
   * returns the node ids holding them, or throws a `write_concern` NuvemError.
   */
  awaitConcern(records: FileRecord[], w: WriteConcern): Promise<string[]>;
  /** The upload body, also streamed to peers as it arrives when that helps (optional). */
  streamToPeers?(body: AsyncIterable<Uint8Array>, size: number | undefined): AsyncIterable<Uint8Array>;
}

/** What the page needs, read by the node at start. */
export interface DashboardAssets {
  /** By file name (`index.html`, `app.js`, `mqtt.esm.js`…): content type, bytes and a strong ETag of them. */
  files: ReadonlyMap<string, DashboardFile>;
  /** For `config.json`: the broker's MQTT-over-WebSocket URL and the topic prefix. */
  brokerWs: string;
  prefix: string;
}

/** One file of the dashboard. */
export interface DashboardFile {
  type: string;
  body: Uint8Array;
  etag: string;
}

export interface Deps {
  nodeId: string;
  store: StorePort;
  replication: Replication;
  metrics: Metrics;
  /** Bearer token every route but /health needs; undefined for none. */
  token?: string;
  /** Nodes' own token: with it, `/internal/` routes take only this one (clients hold `token`); other routes take either. */
  nodeToken?: string;
  /**
   * Without a token: the host names, besides loopback ones, that a request's
   * `Host` may name (the public URL's); any other is refused with 403, so a
   * web page cannot reach the node through DNS rebinding. Undefined: no check.
   */
  allowedHosts?: readonly string[];
  /** Long-polls of /changes waiting at once (default 1000; changes.ts). */
  maxLongPolls?: number;
  /** The member list as this node sees it, and forgetting a member (`/members`; nodes/replicator.ts). */
  members?: MembersPort;
  /** This node's status (the heartbeat fields and its view of the cluster). */
  status(): Record<string, unknown>;
  /** Whether the node can take requests: undefined when healthy, else the reason. */
  unhealthy(): string | undefined;
  /** Resolves when an upload may start; throws `disk_full` when the disk is below its reserve (checked before the body is read). */
  admitUpload?(): Promise<void>;
  log: Log;
  /** The dashboard's files and where the broker is (`GET /`; dashboard.ts); undefined: a page saying they are missing. */
  dashboard?: DashboardAssets;
  /**
   * The request target exactly as received, where the runtime gives it (Node:
   * `req.url`), checked before URL parsing removes `.`/`..` segments.
   */
  rawTarget?(c: Context): string | undefined;
  /** True when the runtime adds `X-Nuvem-Node` to every answer itself. */
  stampsNodeHeader?: boolean;
  /** A request header (lower-case name) read from the runtime's own request, where it has one (faster). */
  requestHeader?(c: Context, name: string): string | undefined;
  /** The request body as chunks; runtimes can pass their native stream (faster). */
  requestBody?(c: Context): AsyncIterable<Uint8Array> | undefined;
}
