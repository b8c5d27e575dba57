// Types of model.js (the dashboard's browser code is plain JavaScript, served as is), for the tests that run it.

/** What the page keeps of a status message: the JSON as it came, checked only where the page relies on it. */
// deno-lint-ignore no-explicit-any
export type Status = Record<string, any>;

export interface NodeView {
  id: string;
  status: Status;
  heardAt: number;
  history: { at: number; ts: number; requests?: number; bytes?: number; cpu?: number }[];
}

export interface KnownRecord {
  version: string;
  origin: string;
  seq: number;
  deleted: boolean;
}

export type FeedEntry =
  | { kind: 'change'; at: number; op: string; path: string; from?: string; size?: number; origin: string; folder: boolean }
  | { kind: 'event'; at: number; type: string; node?: string; path?: string; winner?: string; loser?: string; count?: number };

export interface Point {
  at: number;
  v: number;
}

export const WINDOW_MS: number;
export function parseJson(payload: string | Uint8Array): Record<string, unknown> | undefined;
export function parseTopic(topic: string, prefix: string): { kind: 'status' | 'file' | 'event'; node?: string } | undefined;

export class ClusterView {
  nodes: Map<string, NodeView>;
  feed: FeedEntry[];
  records: Map<string, KnownRecord>;
  onMessage(topic: string, payload: string | Uint8Array, options: { prefix?: string; retained?: boolean; now: number }): 'status' | 'feed' | undefined;
  list(): NodeView[];
}

export function heartbeatAge(node: NodeView, now: number): number;
export function stateOf(node: NodeView, now: number): 'online' | 'draining' | 'offline';
export function seriesOf(node: NodeView, now: number): { ops: Point[]; bytes: Point[]; cpu: Point[] };
export function holdersOf(record: KnownRecord, nodes: NodeView[], now: number): { id: string; holds: boolean; state: string }[];
export function newerOf(a: KnownRecord | undefined, b: KnownRecord | undefined): KnownRecord | undefined;
export function cleanPath(text: string): string;
export function fileUrl(path: string): string;
export function brokerUrlFor(brokerWs: string, pageHost: string): string | undefined;
export function formatBytes(n: number | undefined): string;
export function formatRate(n: number | undefined, unit: string): string;
export function formatPercent(share: number | undefined): string;
export function formatAge(ms: number): string;
export function formatClock(ms: number): string;
export function spanOf(openedAt: number, now: number): number;
export function sparkPoints(series: Point[], now: number, options: { width?: number; height?: number; max?: number; span?: number }): string;
