/**
 * Node choice (DESIGN.md section 5, "Node selection"): the one place that
 * decides which node a request goes to. Pure: the observed state and the
 * time come in, a ranking goes out; no I/O, no clock.
 *
 * 1. Out: nodes not `online`, and nodes whose last heartbeat is older than
 *    3 × their `heartbeatMs` (a host that vanished without a Last Will).
 * 2. Reads (and writes that depend on the current version: conditional
 *    PUTs, DELETE, MOVE): only nodes that hold every change in `needs`, by
 *    the freshness rule — node N holds change (origin O, seq s) iff N is O,
 *    or `N.applied[O] >= s`, or N is among the change's known `holders`
 *    (from a write's `replicas`, an ack, or the node that served it).
 *    When no eligible node holds them, the others come back as a last
 *    resort with `stale: true`; the caller then relies on `min_version`,
 *    with which a node refuses (503) rather than answer with older content.
 * 3. Then the lowest smoothed latency this client measured, compared in
 *    steps of about 20 % so that nodes about as close count as equal; a node
 *    not measured yet (or whose measure is old) comes after the measured
 *    ones: the client probes it in the background rather than send it real
 *    requests blind.
 * 4. Then the least `inflight` (the node's own figure plus this client's
 *    requests to it); then the order given.
 * A `prefer`red node (a client bound to one node) goes before all of these
 * while it is eligible and has not failed lately; with a list of them, the
 * first eligible one goes first.
 * A node that failed this client's request lately goes after all the rest.
 * A node whose status is unknown (it answers, but not with a status: a
 * wrong token, a proxy) is tried only when no online node is available.
 *
 * @example
 * const { nodes } = selectNodes(views, { needs: [{ origin: 'node-1', seq: 7 }] });
 * // nodes[0]: the closest online node that holds change node-1/7
 */

export type NodeState = 'online' | 'draining' | 'offline' | 'unknown';

/** What the client knows about one node at the moment of choosing. */
export interface NodeView {
  /** Node id (`X-Nuvem-Node`); the URL when the id is not known yet. */
  id: string;
  url: string;
  state: NodeState;
  /** Age of the last status heard; undefined when none was. */
  heartbeatAgeMs: number | undefined;
  /** How often fresh status is due (the node's heartbeat, or the client's polling interval). */
  heartbeatMs: number;
  /** originId → highest contiguous seq applied. */
  applied: Readonly<Record<string, number>>;
  /** Smoothed time to the answer's headers for this client's requests; undefined when not measured (lately). */
  latencyMs?: number;
  /** Requests in progress at the node: its own figure plus this client's. */
  inflight: number;
  /** This client's last request to it failed (network, timeout, 5xx) and nothing since says it is back. */
  failedRecently?: boolean;
  /** Polling its `/status` failed to connect: why. */
  unreachable?: string;
}

/** A change the chosen node must hold. */
export interface Need {
  origin: string;
  seq: number;
  /** Node ids known to hold it beyond what their `applied` says. */
  holders?: readonly string[];
}

export interface SelectionRequest {
  /** Changes the node must hold (the newest known version of the path, this client's writes…). */
  needs?: readonly Need[];
  /** Node ids not to choose (already tried for this request). */
  exclude?: ReadonlySet<string>;
  /**
   * A node id or URL that goes first while it is available and holds `needs`
   * (a client bound to one node); a list ranks its nodes in its order (the
   * client's own node, then a node known to hold what is read).
   */
  prefer?: string | readonly string[];
}

export interface Exclusion {
  id: string;
  url: string;
  reason: string;
}

export interface Selection {
  /** Best first; never empty. */
  nodes: NodeView[];
  /** No eligible node is known to hold `needs`: these are a last resort. */
  stale: boolean;
  /** Nodes left out, and why. */
  excluded: Exclusion[];
}

/** No node can take the request; `excluded` says why each was left out. */
export class NoNodeAvailableError extends Error {
  readonly excluded: Exclusion[];
  constructor(message: string, options: { excluded: Exclusion[] }) {
    super(message);
    this.name = 'NoNodeAvailableError';
    this.excluded = options.excluded;
  }
}

/** Heartbeats older than this many intervals mean the node is gone. */
export const MISSED_HEARTBEATS = 3;

/** Does `node` hold change `need`? (DESIGN.md section 4, freshness rule.) */
export function holds(node: Pick<NodeView, 'id' | 'applied'>, need: Need): boolean {
  return node.id === need.origin || (node.applied[need.origin] ?? 0) >= need.seq || (need.holders?.includes(node.id) ?? false);
}

/** Why `node` cannot serve at all, or undefined when it can. */
export function unavailability(node: NodeView): string | undefined {
  if (node.unreachable !== undefined) return `unreachable (${node.unreachable})`;
  if (node.state !== 'online') return node.state === 'unknown' ? 'no status heard' : node.state;
  if (node.heartbeatAgeMs === undefined) return 'no status heard';
  const limit = MISSED_HEARTBEATS * node.heartbeatMs;
  if (node.heartbeatAgeMs >= limit) return `last heartbeat ${seconds(node.heartbeatAgeMs)} ago (limit ${seconds(limit)})`;
  return undefined;
}

/** Latency step: values within about 20 % of each other share a step; unmeasured comes last. */
export function latencyStep(latencyMs: number | undefined): number {
  if (latencyMs === undefined) return Number.MAX_SAFE_INTEGER;
  return Math.round(Math.log2(1 + Math.max(0, latencyMs)) * 4);
}

function compare(a: NodeView, b: NodeView): number {
  return Number(a.failedRecently ?? false) - Number(b.failedRecently ?? false) ||
    latencyStep(a.latencyMs) - latencyStep(b.latencyMs) ||
    a.inflight - b.inflight;
}

/**
 * The nodes to try for a request, best first. Throws `NoNodeAvailableError`
 * when every node is excluded, down or silent.
 */
export function selectNodes(nodes: readonly NodeView[], request: SelectionRequest = {}): Selection {
  const excluded: Exclusion[] = [];
  const up: NodeView[] = [];
  const unverified: NodeView[] = [];
  for (const node of nodes) {
    const reason = request.exclude?.has(node.id) ? 'already tried' : unavailability(node);
    if (reason === undefined) up.push(node);
    else excluded.push({ id: node.id, url: node.url, reason });
    if (reason === 'no status heard') unverified.push(node);
  }
  if (up.length === 0) {
    // Nodes that answer but gave no status may still take it, or say why not (a wrong token).
    if (unverified.length > 0) return { nodes: unverified, stale: true, excluded: excluded.filter((e) => !unverified.some((n) => n.id === e.id)) };
    throw new NoNodeAvailableError(noNodeMessage(nodes, excluded), { excluded });
  }
  const needs = request.needs ?? [];
  const fresh = up.filter((n) => needs.every((need) => holds(n, need)));
  const stale = fresh.length === 0 && needs.length > 0;
  const chosen = stale ? up : fresh;
  if (!stale) {
    for (const n of up) {
      if (!fresh.includes(n)) excluded.push({ id: n.id, url: n.url, reason: 'lacks the newest known version' });
    }
  }
  // Array#sort is stable: equal nodes keep the order given.
  const prefer = request.prefer === undefined ? [] : typeof request.prefer === 'string' ? [request.prefer] : request.prefer;
  const preferred = (n: NodeView) => {
    if (n.failedRecently) return 0;
    const at = prefer.findIndex((p) => n.id === p || n.url === p);
    return at < 0 ? 0 : prefer.length - at;
  };
  return { nodes: [...chosen].sort((a, b) => preferred(b) - preferred(a) || compare(a, b)), stale, excluded };
}

function noNodeMessage(nodes: readonly NodeView[], excluded: Exclusion[]): string {
  if (nodes.length === 0) return 'No Nuvem node is known';
  const byId = <T extends { id: string }>(list: readonly T[]) => [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const unreachable = byId(nodes.filter((n) => n.unreachable !== undefined));
  if (unreachable.length === 1 && nodes.length === 1) return `Cannot reach ${unreachable[0].url}: ${unreachable[0].unreachable}`;
  if (unreachable.length === nodes.length) {
    return `Cannot reach any Nuvem node: ${unreachable.map((n) => `${n.url} (${n.unreachable})`).join('; ')}`;
  }
  return `No Nuvem node can take the request (${byId(excluded).map((e) => `${e.id}: ${e.reason}`).join('; ')})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
