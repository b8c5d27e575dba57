/**
 * Replication: this node's changes go out as notices on `nuvem/files/{path}`;
 * peers' notices come in, and each origin's changes are applied in seq order
 * (content fetched from member URLs only, verified before commit), then
 * acknowledged on `nuvem/acks/{origin}`. A gap in an origin's seqs, or a
 * heartbeat showing a peer ahead, starts a catch-up over HTTP from the peers'
 * logs, so convergence never depends on the broker alone (anti_entropy.ts
 * repairs the rest).
 */
import { AckWaits, realTimers, type Timers } from './acks.ts';
import { ackMessage, changeMessage, eventMessage, parseAckMessage, parseChangeMessage, parseStatusMessage } from '../protocol/messages.ts';
import { ackTopic, eventTopic, fileTopic, parseTopic } from '../protocol/topics.ts';
import { connectBus, type Bus } from './bus.ts';
import { isConflict } from './conflict.ts';
import { NuvemError } from '../protocol/errors.ts';
import type { Log } from '../protocol/log.ts';
import { isOnline, lagOf, Membership, type Member } from './membership.ts';
import type { Metrics } from '../protocol/metrics.ts';
import { PeerGets } from './peers.ts';
import { pushing } from './push.ts';
import type { Change, FileRecord } from '../protocol/record.ts';
import type { Store } from './store.ts';
import type { WriteConcern } from '../protocol/write_concern.ts';

export interface ReplicatorOptions {
  store: Store;
  brokerUrl: string;
  token?: string;
  prefix?: string;
  heartbeatMs: number;
  /** This node's status without the replication fields (added here). */
  status: () => Record<string, unknown>;
  log: Log;
  metrics: Metrics;
  now?: () => number;
  /** The timers of ack waits and of prompt status updates (default: the runtime's); a seam for tests. */
  timers?: Timers;
}

const CATCH_UP_PAGE = 500;
/** Where a run of changes came from: notices (hints) or a peer's log. */
interface Via {
  sources: (Member | undefined)[];
  fromLog: boolean;
}

/** Consecutive changes applied together, and how many at once. */
const BATCH = 256;
const CONCURRENCY = 16;

export class Replicator {
  readonly membership: Membership;
  readonly #o: ReplicatorOptions;
  readonly #store: Store;
  readonly #id: string;
  readonly #now: () => number;
  readonly #timers: Timers;
  #bus!: Bus;
  /** Notices waiting for their turn, per origin, by seq. */
  readonly #waiting = new Map<string, Map<number, Change>>();
  readonly #pumping = new Set<string>();
  readonly #pumpAgain = new Set<string>();
  readonly #acks: AckWaits;
  readonly #verifying = new Map<string, number>();
  readonly #count: (what: string) => void;
  readonly #pushed: (labels: { outcome: string }) => void;
  #stopOwn?: () => void;
  #closed = false;
  readonly #gets: PeerGets;

  constructor(options: ReplicatorOptions) {
    this.#o = options;
    this.#store = options.store;
    this.#id = options.store.nodeId;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? realTimers;
    const remembered = JSON.parse(this.#store.index.getMeta('peers') ?? '{}');
    this.membership = new Membership(this.#id, remembered);
    this.#gets = new PeerGets({ token: options.token, isMemberUrl: (url) => this.membership.isMemberUrl(url) });
    this.#acks = new AckWaits({ nodeId: this.#id, membership: this.membership, now: this.#now, timers: this.#timers });
    const ignored = options.metrics.counter('nuvem_mqtt_ignored_total', 'MQTT messages ignored as malformed or untrusted, by reason');
    this.#count = (reason) => ignored({ reason });
    this.#pushed = options.metrics.counter('nuvem_push_total', 'Uploads streamed to a peer while arriving, by outcome');
    options.metrics.gauge('nuvem_peer_heartbeat_age_seconds', 'Age of the last heartbeat per peer', () =>
      this.membership.known().map((m) => ({ labels: { peer: m.id }, value: m.receivedAt ? (this.#now() - m.receivedAt) / 1000 : -1 })));
  }

  start(): void {
    const prefix = this.#o.prefix;
    this.#bus = connectBus({
      url: this.#o.brokerUrl,
      nodeId: this.#id,
      token: this.#o.token,
      prefix,
      heartbeatMs: this.#o.heartbeatMs,
      status: () => this.status(),
      subscriptions: [`${prefix ?? 'nuvem'}/nodes/+/status`, `${prefix ?? 'nuvem'}/files/#`, ackTopic(this.#id, { prefix })],
      onMessage: (topic, payload) => {
        try {
          this.#onMessage(topic, payload);
        } catch (err) {
          // Never let one message take the node down.
          this.#count('error');
          this.#o.log('warn', 'failed to handle an MQTT message', { topic: topic.slice(0, 200), error: String((err as Error)?.message ?? err) });
        }
      },
      onConnect: () => this.catchUpAll(),
      log: this.#o.log,
    });
    let statusSoon: unknown;
    this.#stopOwn = this.#store.onChange((changes) => {
      for (const c of changes) if (c.origin === this.#id) this.#publishChange(c);
      // The status (seq, applied) promptly on change, at most every 100 ms.
      statusSoon ??= this.#timers.setTimeout(() => {
        statusSoon = undefined;
        if (!this.#closed) this.publishStatus();
      }, 100);
    });
  }

  /** The status heartbeat: the node's fields plus applied vector, lag and its view of the cluster. */
  status(): Record<string, unknown> {
    const applied = this.#store.applied();
    const now = this.#now();
    return {
      ...this.#o.status(),
      seq: this.#store.seq,
      applied,
      lag: lagOf(applied, this.membership.known()),
      cluster: this.membership.known().map((m) => ({ id: m.id, url: m.url, state: isOnline(m, now) ? 'online' : 'offline', heartbeatAgeMs: m.receivedAt ? now - m.receivedAt : null })),
    };
  }

  /** Is this peer verified and its heartbeat fresh? */
  isOnline(id: string): boolean {
    return this.membership.online(this.#now()).some((m) => m.id === id);
  }

  /** Whether the broker connection is up (notices and heartbeats flow). */
  get connected(): boolean {
    return this.#bus?.connected ?? false;
  }

  publishStatus(): void {
    this.#bus?.publishStatus();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopOwn?.();
    this.#gets.close();
    await this.#bus?.close();
  }

  /**
   * The body of an upload of `size` bytes (undefined: unknown), streamed on
   * to every online peer while this node stores it (when it has a length and
   * peers are online); else `body` itself. Small uploads are pushed too: the
   * push replaces the fetch a replica would make after the notice, and its
   * temp-file fsync overlaps the origin's, so a w=auto write waits for one
   * fsync stage less (4 KiB w=auto p50 15-17 ms → 10-13 ms on the 3-node
   * loopback bench, c=16 throughput 237 → 318-345 req/s).
   */
  streamToPeers(body: AsyncIterable<Uint8Array>, size: number | undefined): AsyncIterable<Uint8Array> {
    if (size === undefined || size === 0 || this.#closed) return body;
    // Online members only: verified, so their URLs are the ones they announced.
    const targets = this.membership.online(this.#now());
    if (!targets.length) return body;
    return pushing(body, size, targets, {
      origin: this.#id,
      token: this.#o.token,
      onOutcome: (peer, outcome, error) => {
        this.#pushed({ outcome });
        if (outcome === 'failed') this.#o.log('info', 'streaming an upload to a peer stopped; it will fetch the content instead', { peer, error: String((error as Error)?.message ?? error) });
      },
    });
  }

  /** Waits until `records` (this node's changes) are held by as many nodes as `w` asks (acks.ts). */
  awaitConcern(records: FileRecord[], w: WriteConcern): Promise<string[]> {
    return this.#acks.wait(records, w);
  }

  // --- incoming messages

  #onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic, { prefix: this.#o.prefix });
    if (!parsed) return this.#count('topic');
    if (parsed.kind === 'status') {
      const m = parseStatusMessage(payload);
      if (!m.ok || m.value.id !== parsed.node) return this.#count('status');
      this.#onStatus(m.value);
    } else if (parsed.kind === 'file') {
      const m = parseChangeMessage(payload);
      if (!m.ok || m.value.path !== parsed.path) return this.#count('change');
      if (m.value.origin === this.#id) return;
      if (!this.membership.get(m.value.origin)) return this.#count('unknown_origin');
      this.#enqueue(m.value);
    } else if (parsed.kind === 'ack') {
      const m = parseAckMessage(payload);
      if (!m.ok || m.value.origin !== this.#id) return this.#count('ack');
      const own = this.#store.logFor(this.#id, m.value.seq - 1, 1)[0];
      if (!own || own.seq !== m.value.seq || own.version !== m.value.version) return this.#count('ack');
      this.#acks.add(m.value.seq, m.value.node);
    }
  }

  #onStatus(status: Parameters<Membership['update']>[0]): void {
    if (this.membership.update(status, this.#now())) {
      this.#store.index.setMeta('peers', JSON.stringify(this.membership.urls()));
    }
    const member = this.membership.get(status.id);
    if (member) this.#verify(member);
    this.#acks.wake();
    const mine = this.#store.applied();
    const ahead = { ...status.applied, [status.id]: status.seq };
    for (const [origin, seq] of Object.entries(ahead)) {
      if (origin !== this.#id && seq > (mine[origin] ?? 0)) this.#pump(origin);
    }
  }

  /** Checks that a member's URL answers /status with its id (at most every 5 s while unverified). */
  #verify(member: Member): void {
    if (member.verified || this.#closed) return;
    const last = this.#verifying.get(member.id) ?? 0;
    if (this.#now() - last < 5000) return;
    this.#verifying.set(member.id, this.#now());
    const url = member.url;
    this.#gets.status(url)
      .then(async (res) => {
        const body = (await res.json()) as { id?: string };
        if (res.ok && body.id === member.id) {
          this.membership.verify(member.id, url);
          this.#verifying.delete(member.id);
          this.#acks.wake();
          this.#pump(member.id);
        }
      })
      .catch(() => {});
  }

  #enqueue(change: Change): void {
    let queue = this.#waiting.get(change.origin);
    if (!queue) this.#waiting.set(change.origin, (queue = new Map()));
    queue.set(change.seq, change);
    this.#pump(change.origin);
  }

  // --- applying, in each origin's order

  /** Applies what can be applied for `origin`: queued notices in order, then the peers' logs for any gap. */
  #pump(origin: string): void {
    if (this.#closed) return;
    if (this.#pumping.has(origin)) {
      // Something arrived while a drain runs: drain again when it ends, so
      // nothing waits for the next heartbeat.
      this.#pumpAgain.add(origin);
      return;
    }
    this.#pumping.add(origin);
    this.#drain(origin)
      .catch((err) => this.#o.log('warn', 'replication from a peer failed; will retry', { origin, error: String(err?.message ?? err) }))
      .finally(() => {
        this.#pumping.delete(origin);
        if (this.#pumpAgain.delete(origin)) this.#pump(origin);
      });
  }

  async #drain(origin: string): Promise<void> {
    for (let rounds = 0; rounds < 1000 && !this.#closed; rounds++) {
      const queue = this.#waiting.get(origin) ?? new Map<number, Change>();
      const applied = this.#store.applied()[origin] ?? 0;
      for (const seq of [...queue.keys()]) if (seq <= applied) queue.delete(seq);
      const run: Change[] = [];
      for (let seq = applied + 1; queue.has(seq) && run.length < BATCH; seq++) run.push(queue.get(seq)!);
      if (run.length) {
        for (const c of run) queue.delete(c.seq);
        await this.#applyRun(run, { sources: [this.membership.get(origin)], fromLog: false });
        continue;
      }
      if (!this.#peerIsAhead(origin, applied, queue)) return;
      if (!(await this.#catchUp(origin, applied))) return;
    }
  }

  #peerIsAhead(origin: string, applied: number, queue: Map<number, Change>): boolean {
    if (queue.size > 0) return true;
    return this.membership.known().some((m) => {
      const theirs = m.id === origin ? m.status?.seq : m.status?.applied[origin];
      return (theirs ?? 0) > applied;
    });
  }

  /** Pulls `origin`'s changes after `applied` from a peer's log; true if it made progress. */
  async #catchUp(origin: string, applied: number): Promise<boolean> {
    const peers = this.#peersFor(origin);
    for (const peer of peers) {
      let changes: Change[];
      try {
        const res = await this.#gets.get(peer, `/internal/log?origin=${origin}&after=${applied}&limit=${CATCH_UP_PAGE}`);
        changes = ((await res.json()) as { changes: Change[] }).changes;
      } catch {
        continue;
      }
      const run: Change[] = [];
      for (const raw of changes) {
        const checked = parseChangeMessage(JSON.stringify(raw));
        if (!checked.ok || checked.value.origin !== origin) {
          this.#count('log');
          break;
        }
        if (checked.value.seq !== applied + 1 + run.length) break;
        run.push(checked.value);
      }
      for (let i = 0; i < run.length; i += BATCH) {
        await this.#applyRun(run.slice(i, i + BATCH), { sources: [peer, this.membership.get(origin)], fromLog: true });
      }
      if (run.length) return true;
    }
    return false;
  }

  /** Peers to ask for `origin`'s changes: the origin first, then those that applied the most of it. */
  #peersFor(origin: string): Member[] {
    const now = this.#now();
    const score = (m: Member) => (m.id === origin ? Infinity : m.status?.applied[origin] ?? 0);
    return this.membership.known()
      .filter((m) => m.verified && (isOnline(m, now) || !m.status))
      .sort((a, b) => score(b) - score(a));
  }

  /**
   * Applies consecutive changes of one origin. Changes to different paths run
   * concurrently (their fsyncs overlap); changes to one path keep their order,
   * and a move (which touches two paths) waits for everything before it.
   * `applied[origin]` advances once the whole run is in.
   */
  async #applyRun(run: Change[], via: Via): Promise<void> {
    if (run.length === 1) return this.#apply(run[0], { ...via, advance: true });
    let segment: Change[] = [];
    const flush = async () => {
      const byPath = new Map<string, Change[]>();
      for (const c of segment) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
      const lanes = [...byPath.values()];
      let next = 0;
      const worker = async () => {
        while (next < lanes.length) for (const c of lanes[next++]) await this.#apply(c, { ...via, advance: false });
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, lanes.length) }, worker));
      segment = [];
    };
    for (const c of run) {
      if (c.op === 'move') {
        await flush();
        await this.#apply(c, { ...via, advance: false });
      } else {
        segment.push(c);
      }
    }
    await flush();
    const last = run[run.length - 1];
    await this.#store.advanceApplied(last.origin, last.seq);
    for (const c of run) this.#ack(c);
  }

  #ack(change: Change): void {
    this.#bus.publish(ackTopic(change.origin, { prefix: this.#o.prefix }), ackMessage({
      node: this.#id,
      origin: change.origin,
      seq: change.seq,
      path: change.path,
      version: change.version,
    }));
  }

  async #apply(change: Change, via: Via & { advance: boolean }): Promise<void> {
    const { advance } = via;
    const members = [...new Set([...via.sources.filter((m): m is Member => m !== undefined), ...this.#peersFor(change.origin)])];
    let result;
    try {
      result = await this.#store.applyRemote(change, {
        advance,
        fetchContent: () => this.fetchContent(change.sha256, members, change.origin),
      });
    } catch (err) {
      // A notice is only a hint: one whose content cannot be had or verified
      // is dropped (and counted); the origin's log is the authority.
      if (!via.fromLog) this.#count('content');
      if (!(via.fromLog && err instanceof NuvemError && err.extra.gone)) throw err;
      // The origin's own log has this change but the origin no longer holds
      // its content: the version was replaced and its revision pruned there,
      // so a newer change of the path follows. Count it as applied, no bytes.
      await this.#store.markApplied(change, { advance });
      result = { outcome: 'duplicate' as const };
    }
    if (advance) this.#ack(change);
    if (result.outcome === 'lost' && isConflict(result.winner, change)) this.#conflict(change.path, result.winner, change);
    if (result.outcome === 'applied' && result.loser && isConflict(change, result.loser)) this.#conflict(change.path, change, result.loser);
  }

  #conflict(path: string, winner: FileRecord, loser: FileRecord): void {
    this.#o.metrics.counter('nuvem_conflicts_total', 'Concurrent writes resolved (the loser kept as a revision)')();
    this.#bus.publish(eventTopic(this.#id, { prefix: this.#o.prefix }), eventMessage({
      type: 'conflict', node: this.#id, ts: this.#now(), path, version: winner.version, winner: winner.version, loser: loser.version,
    }));
  }

  /**
   * Content by SHA-256 from the first of `members` that has it (member URLs
   * only). When `origin` is given and answered that it does not hold it, the
   * error says `gone`.
   */
  fetchContent(sha256: string, members: Member[], origin?: string): Promise<AsyncIterable<Uint8Array>> {
    return this.#gets.content(sha256, { members, origin });
  }

  #publishChange(change: Change): void {
    // The bus drops what it cannot send now (peers catch up from the logs): no message to build.
    if (!this.#bus?.connected) return;
    this.#bus.publish(fileTopic(change.path, { prefix: this.#o.prefix }), changeMessage(change));
  }

  /** Starts a catch-up for every origin some peer is ahead on (at connect, and from anti-entropy). */
  catchUpAll(): void {
    const mine = this.#store.applied();
    const origins = new Set<string>();
    for (const m of this.membership.known()) {
      origins.add(m.id);
      for (const o of Object.keys(m.status?.applied ?? {})) origins.add(o);
    }
    origins.delete(this.#id);
    for (const o of origins) if (this.#peerIsAhead(o, mine[o] ?? 0, new Map())) this.#pump(o);
  }

  /** Members to compare digests with (anti-entropy): online ones, and remembered ones when no heartbeat is known. */
  peersForRepair(): Member[] {
    const now = this.#now();
    for (const m of this.membership.known()) this.#verify(m);
    return this.membership.known().filter((m) => m.verified && (isOnline(m, now) || !m.status || !this.#bus?.connected));
  }

  /** GET `path` on `member` (member URLs only, with the token); a status other than 2xx rejects. */
  get(member: Member, path: string): Promise<Response> {
    return this.#gets.get(member, path);
  }
}
