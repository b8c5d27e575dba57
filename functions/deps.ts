/**
 * What the HTTP functions need from the node, passed in so that they run on
 * any runtime and in tests without sockets.
 */
import type { Context } from 'hono';
import type { Store } from '../nodes/store.ts';
import type { FileRecord } from '../nodes/record.ts';
import type { Metrics } from '../nodes/metrics.ts';
import type { WriteConcern } from './headers.ts';

export interface Replication {
  /**
   * Waits until `records` are durably applied on as many nodes as `w` asks;
   * returns the node ids holding them, or throws a `write_concern` NuvemError.
   */
  awaitConcern(records: FileRecord[], w: WriteConcern): Promise<string[]>;
  /** The upload body, also streamed to peers as it arrives when that helps (optional). */
  streamToPeers?(body: AsyncIterable<Uint8Array>, size: number | undefined): AsyncIterable<Uint8Array>;
}

export interface Deps {
  nodeId: string;
  store: Store;
  replication: Replication;
  metrics: Metrics;
  /** Bearer token every route but /health needs; undefined for none. */
  token?: string;
  /** This node's status (the heartbeat fields and its view of the cluster). */
  status(): Record<string, unknown>;
  /** Whether the node can take requests: undefined when healthy, else the reason. */
  unhealthy(): string | undefined;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: object): void;
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
