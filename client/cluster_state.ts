/**
 * What this client knows about the cluster, as it learns it: each node's
 * last status (from MQTT heartbeats or from polling `GET /status`), the
 * latency (a moving average of the time to the answer's headers; the first
 * answer from a node pays for connecting and is left out) and outcome of
 * this client's own requests to it, its requests in
 * progress, and the newest version known of each path (from change notices,
 * acks, this client's writes and the versions nodes served). No I/O; the
 * clock is injected, so ageing is tested without waiting.
 * `views()` and `needsFor()` are what `selection.ts` chooses from.
 *
 * @example
 * const state = new ClusterState();
 * state.onStatus(status, { retained: true });
 * const track = state.begin(status.id);
 * // … the request …
 * track.answered({ latencyMs: 3.2 });
 * track.finished();
 * selectNodes(state.views(), { needs: state.needsFor('a.txt') });
 */
import type { AckMessage, ChangeMessage, StatusMessage } from '../protocol/messages.ts';
import type { Need, NodeState, NodeView } from './selection.ts';

export interface ClusterStateOptions {
  now?: () => number;
  /** Weight of a new latency sample in the moving average (default 0.3). */
  latencyWeight?: number;
  /** A latency measure older than this is dropped, so the node gets measured again (default 30 s). */
  latencyTtlMs?: number;
  /** A node whose request failed ranks last this long, unless a newer status says it is back (default 10 s). */
  failurePenaltyMs?: number;
  /** Paths whose newest version is remembered (default 10 000; the oldest learned are forgotten first). */
  maxPaths?: number;
  /**
   * Orders nodes that are otherwise equal (default `Math.random`, drawn once
   * per node): each client has its own order, so clients do not all crowd
   * onto the same node.
   */
  random?: () => number;
}

/** The newest version of a path this client knows of, and who holds it. */
export interface KnownVersion {
  version: string;
  origin: string;
  /** `Infinity` when the change's seq is not known yet (a DELETE answers without it): only `holders` qualify. */
  seq: number;
  deleted: boolean;
  holders: Set<string>;
  /** This client made the change. */
  own: boolean;
}

/** One node as `nuvem status` shows it. */
export interface NodeReport {
  id: string;
  url: string;
  /** online | draining | offline, `silent` (heartbeats stopped) or `unreachable` (polling failed). */
  state: string;
  heartbeatAgeMs?: number;
  heartbeatMs: number;
  lag?: number;
  latencyMs?: number;
  inflight?: number;
  files?: number;
  bytes?: number;
  disk?: { free: number; total: number };
  /** Resource report of its last status: cpu share (0 to 1), 1-min load, memory in bytes. */
  cpu?: number;
  load?: number;
  mem?: { rss: number; free: number; total: number };
  seq?: number;
  applied?: Record<string, number>;
  version?: string;
  /** Why polling failed, when it did. */
  error?: string;
}

interface Tracked {
  id: string;
  url: string;
  status?: StatusMessage;
  /** Client clock time the freshest status describes (a heartbeat, or a poll). */
  heardAt?: number;
  /** Client clock time of the last heartbeat on the bus (what `nuvem status` shows as its age). */
  busAt?: number;
  /** Set when status comes from polling: the interval it is refreshed at. */
  pollMs?: number;
  /** Polling could not reach it. */
  unreachable?: string;
  /** Polling reached it, but it gave no status (e.g. 401): why. */
  noStatus?: string;
  latency?: { ms: number; at: number };
  /** The node answered once since (re)starting: the first answer pays for connecting and warming up, and is not a sample. */
  warm?: boolean;
  pending: number;
  failedAt?: number;
  /** This client's order among equal nodes. */
  tiebreak: number;
}

export type RequestOutcome = { latencyMs?: number; failed?: boolean };

export interface RequestTrack {
  answered(outcome: RequestOutcome): void;
  finished(): void;
}

export class ClusterState {
  readonly #now: () => number;
  readonly #weight: number;
  readonly #latencyTtl: number;
  readonly #penalty: number;
  readonly #maxPaths: number;
  readonly #random: () => number;
  readonly #nodes = new Map<string, Tracked>();
  readonly #paths = new Map<string, KnownVersion>();
  /** Per origin: this client's latest change there (for listings). */
  readonly #own = new Map<string, KnownVersion>();

  constructor(options: ClusterStateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#weight = options.latencyWeight ?? 0.3;
    this.#latencyTtl = options.latencyTtlMs ?? 30_000;
    this.#penalty = options.failurePenaltyMs ?? 10_000;
    this.#maxPaths = options.maxPaths ?? 10_000;
    this.#random = options.random ?? Math.random;
  }

  // --- nodes

  /** A node known only by URL (the `nodes` option), until polling tells its id. */
  addUrl(url: string): void {
    if (![...this.#nodes.values()].some((n) => n.url === url)) this.#nodes.set(url, { id: url, url, pending: 0, tiebreak: this.#random() });
  }

  /**
   * A status heartbeat. `retained`: replayed by the broker, so it is as old
   * as its `ts` says. `polled`: fetched from the node at `url` now, with
   * fresh status due every `everyMs`.
   */
  onStatus(status: StatusMessage, options: { retained?: boolean; polled?: { url: string; everyMs: number } } = {}): void {
    const now = this.#now();
    const url = options.polled?.url ?? status.url;
    let node = this.#nodes.get(status.id);
    const placeholder = options.polled ? this.#nodes.get(url) : undefined;
    if (!node && placeholder && placeholder.id === url) {
      this.#nodes.delete(url);
      node = placeholder;
      node.id = status.id;
    }
    if (!node) node = { id: status.id, url, pending: 0, tiebreak: this.#random() };
    this.#nodes.set(status.id, node);
    const before = node.status;
    const restarted = before !== undefined && before.startedAt !== status.startedAt;
    // An older heartbeat arriving late changes nothing; a Last Will carries the connect time, so `offline` always counts.
    if (before && !restarted && status.state !== 'offline' && status.ts < before.ts) return;
    if (restarted) {
      node.latency = undefined;
      node.warm = false;
    }
    node.status = status;
    node.url = url;
    node.pollMs = options.polled?.everyMs;
    node.unreachable = undefined;
    node.noStatus = undefined;
    if (status.state !== 'offline' || node.heardAt === undefined) {
      node.heardAt = options.retained ? Math.min(now, status.ts) : now;
      if (!options.polled) node.busAt = node.heardAt;
    }
    if (status.state === 'online' && node.failedAt !== undefined && node.heardAt > node.failedAt) node.failedAt = undefined;
  }

  /** Polling `url` failed to connect. */
  onUnreachable(url: string, reason: string): void {
    const node = [...this.#nodes.values()].find((n) => n.url === url);
    if (node) node.unreachable = reason;
  }

  /** Polling `url` got an answer, but not a status (a wrong token, a proxy): reachable, state unknown. */
  onNoStatus(url: string, reason: string): void {
    const node = [...this.#nodes.values()].find((n) => n.url === url);
    if (!node) return;
    node.unreachable = undefined;
    node.noStatus = reason;
  }

  /**
   * Counts a request to node `id` as in progress. `answered` records its
   * outcome when the headers (or a failure) arrive: a latency sample, or a
   * failure that ranks the node last for a while; `finished` ends it (after
   * the body, for a download). `background`: a probe, not counted as load.
   */
  begin(id: string, options: { background?: boolean } = {}): RequestTrack {
    const node = this.#nodes.get(id);
    // A background probe is not load: it would push real requests away from the node it measures.
    if (node && !options.background) node.pending++;
    let open = !options.background;
    const finished = () => {
      if (!open || !node) return;
      open = false;
      node.pending = Math.max(0, node.pending - 1);
    };
    return {
      answered: (outcome) => {
        if (!node) return;
        const now = this.#now();
        if (outcome.failed) {
          node.failedAt = now;
          finished();
          return;
        }
        node.failedAt = undefined;
        if (outcome.latencyMs === undefined) return;
        if (!node.warm) {
          node.warm = true;
          return;
        }
        const old = node.latency && now - node.latency.at < this.#latencyTtl ? node.latency.ms : undefined;
        const ms = old === undefined ? outcome.latencyMs : old + this.#weight * (outcome.latencyMs - old);
        node.latency = { ms, at: now };
      },
      finished,
    };
  }

  /** A request to node `id` failed outside `begin` (a download broke mid-body). */
  onFailure(id: string): void {
    const node = this.#nodes.get(id);
    if (node) node.failedAt = this.#now();
  }

  /** A node that answered (any status) is reachable: clears a polling failure. */
  onAnswered(id: string): void {
    const node = this.#nodes.get(id);
    if (node) node.unreachable = undefined;
  }

  /** Node id for a base URL, if known. */
  idOf(url: string): string | undefined {
    return [...this.#nodes.values()].find((n) => n.url === url)?.id;
  }

  urls(): string[] {
    return [...this.#nodes.values()].map((n) => n.url);
  }

  /** The nodes as `selection.ts` sees them, now, in this client's order for equal nodes. */
  views(): NodeView[] {
    const now = this.#now();
    return [...this.#nodes.values()].sort((a, b) => a.tiebreak - b.tiebreak).map((n) => {
      const state: NodeState = n.noStatus ? 'unknown' : n.status?.state ?? 'unknown';
      const fresh = n.latency && now - n.latency.at < this.#latencyTtl;
      return {
        id: n.id,
        url: n.url,
        state,
        heartbeatAgeMs: n.heardAt === undefined ? undefined : Math.max(0, now - n.heardAt),
        heartbeatMs: Math.max(n.status?.heartbeatMs ?? 1000, n.pollMs ?? 0),
        applied: n.status?.applied ?? {},
        latencyMs: fresh ? n.latency!.ms : undefined,
        inflight: (n.status?.inflight ?? 0) + n.pending,
        failedRecently: n.failedAt !== undefined && now - n.failedAt < this.#penalty,
        ...(n.unreachable === undefined ? {} : { unreachable: n.unreachable }),
      };
    });
  }

  /** Every node, for `nuvem status`; the heartbeat age is the bus heartbeat's when there is one (a probe does not hide a silent node). */
  report(): NodeReport[] {
    const now = this.#now();
    const views = new Map(this.views().map((v) => [v.id, v] as const));
    return [...this.#nodes.values()].map((n) => {
      const v = views.get(n.id)!;
      let state: string = v.state;
      const heartbeatAgeMs = n.busAt !== undefined ? Math.max(0, now - n.busAt) : v.heartbeatAgeMs;
      if (n.unreachable && state !== 'offline') state = 'unreachable';
      else if (state === 'online' && heartbeatAgeMs !== undefined && heartbeatAgeMs >= 3 * (n.status?.heartbeatMs ?? v.heartbeatMs)) state = 'silent';
      const s = n.status;
      return {
        id: n.id,
        url: n.url,
        state,
        heartbeatAgeMs,
        heartbeatMs: v.heartbeatMs,
        lag: s?.lag,
        latencyMs: n.latency ? n.latency.ms : undefined,
        inflight: s?.inflight,
        files: s?.files,
        bytes: s?.bytes,
        disk: s?.disk,
        cpu: s?.cpu,
        load: s?.load,
        mem: s?.mem,
        seq: s?.seq,
        applied: s?.applied,
        version: s?.version,
        error: n.unreachable ?? n.noStatus,
      };
    });
  }

  // --- versions

  /** A change notice (`nuvem/files/…`). */
  onChange(change: ChangeMessage): void {
    this.#learn(change.path, { version: change.version, origin: change.origin, seq: change.seq, deleted: change.deleted, holder: change.origin });
    if (change.op === 'move' && change.from !== undefined) {
      this.#learn(change.from, { version: change.version, origin: change.origin, seq: change.seq, deleted: true, holder: change.origin });
    }
  }

  /** An ack (`nuvem/acks/…`): `node` has applied the change. */
  onAck(ack: AckMessage): void {
    const known = this.#paths.get(ack.path);
    if (known && known.version === ack.version) known.holders.add(ack.node);
    for (const own of this.#own.values()) if (own.origin === ack.origin && own.seq === ack.seq) own.holders.add(ack.node);
  }

  /** A node served `path` at this version (a read's headers). */
  onServed(path: string, served: { version: string; origin?: string; seq?: number; node?: string }): void {
    if (!served.version || served.origin === undefined || served.seq === undefined) return;
    this.#learn(path, { version: served.version, origin: served.origin, seq: served.seq, deleted: false, holder: served.node });
  }

  /**
   * This client's own change, from the node's answer: the record (with
   * `replicas`), or for a DELETE, which answers without one, only the node
   * that took it (`version` unknown, so reads stick to that node until a
   * notice tells the change's seq).
   */
  onWrite(change: { path: string; version?: string; origin?: string; seq?: number; deleted?: boolean; replicas?: readonly string[]; node?: string }): void {
    const holders = new Set<string>([...(change.replicas ?? []), ...(change.node ? [change.node] : [])]);
    let known: KnownVersion;
    if (change.version && change.origin !== undefined && change.seq !== undefined) {
      holders.add(change.origin);
      known = { version: change.version, origin: change.origin, seq: change.seq, deleted: change.deleted ?? false, holders, own: true };
    } else if (change.node) {
      const previous = this.#paths.get(change.path);
      known = { version: previous?.version ?? '', origin: change.node, seq: Infinity, deleted: true, holders, own: true };
    } else {
      return;
    }
    this.#remember(change.path, known);
    const own = this.#own.get(known.origin);
    if (!own || known.seq === Infinity || own.seq === Infinity || known.seq >= own.seq) this.#own.set(known.origin, known);
  }

  /** The newest version known of `path`, if any. */
  known(path: string): KnownVersion | undefined {
    return this.#paths.get(path);
  }

  /** What a node must hold to answer about `path` with nothing older than this client knows of. */
  needsFor(path: string): Need[] {
    const k = this.#paths.get(path);
    return k ? [needOf(k)] : [];
  }

  /** `min_version` for a read of `path`: the newest version known, unless that is a delete (which a node answers with 404). */
  minVersionFor(path: string): string | undefined {
    const k = this.#paths.get(path);
    return k && k.version !== '' && k.seq !== Infinity ? k.version : undefined;
  }

  /** For listings: this client's latest change at each origin. */
  ownNeeds(): Need[] {
    return [...this.#own.values()].map(needOf);
  }

  #learn(path: string, v: { version: string; origin: string; seq: number; deleted: boolean; holder?: string }): void {
    const known = this.#paths.get(path);
    // A delete this client made whose seq is unknown yet waits for a version above the one it replaced.
    const pending = known?.seq === Infinity;
    if (known) {
      if (pending ? v.version <= known.version : v.version < known.version) return;
      if (!pending && v.version === known.version) {
        if (v.holder) known.holders.add(v.holder);
        return;
      }
    }
    const completes = pending && known!.origin === v.origin && v.deleted;
    const holders = new Set<string>(v.holder ? [v.holder] : []);
    if (completes) for (const h of known!.holders) holders.add(h);
    const next: KnownVersion = { version: v.version, origin: v.origin, seq: v.seq, deleted: v.deleted, holders, own: completes };
    this.#remember(path, next);
    if (completes) this.#own.set(next.origin, next);
  }

  #remember(path: string, known: KnownVersion): void {
    this.#paths.delete(path);
    this.#paths.set(path, known);
    if (this.#paths.size > this.#maxPaths) this.#paths.delete(this.#paths.keys().next().value!);
  }
}

function needOf(k: KnownVersion): Need {
  return { origin: k.origin, seq: k.seq, holders: [...k.holders] };
}
