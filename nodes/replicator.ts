/**
 * Replication: this node's changes go out as notices on `nuvem/files/{path}`;
 * peers' notices come in, and each origin's changes are applied in seq order
 * (content fetched from member URLs only, verified before commit), then
 * acknowledged on `nuvem/acks/{origin}`. A gap in an origin's seqs, or a
 * heartbeat showing a peer ahead, starts a catch-up over HTTP from the peers'
 * logs, so convergence never depends on the broker alone (anti_entropy.ts
 * repairs the rest).
 *
 * This class wires the bus to the parts: `incoming.ts` (the queue and apply
 * of peers' changes), `catch_up.ts` (reading peers' logs), `acks.ts` (write
 * concern waits) and `peers.ts` (the HTTP client for peers).
 */
import { AckWaits, realTimers, type Timers } from './acks.ts';
import { changeMessage, eventMessage, type EventMessage, parseAckMessage, parseChangeMessage, parseStatusMessage } from '../protocol/messages.ts';
import { ackTopic, eventTopic, fileTopic, parseTopic, statusTopic } from '../protocol/topics.ts';
import { NuvemError } from '../protocol/errors.ts';
import { connectBus, type Bus } from './bus.ts';
import { originsBehind } from './catch_up.ts';
import { Incoming } from './incoming.ts';
import type { Log } from '../protocol/log.ts';
import { isOnline, lagOf, Membership, type Member } from './membership.ts';
import type { Metrics } from '../protocol/metrics.ts';
import { PeerBackoff } from './peer_backoff.ts';
import { PeerGets, readJson } from './peers.ts';
import { pushing } from './push.ts';
import { resyncFrom } from './resync.ts';
import type { Change, FileRecord } from '../protocol/record.ts';
import type { Store } from './store.ts';
import type { WriteConcern } from '../protocol/write_concern.ts';
import { nodeCredential } from '../protocol/credentials.ts';

export interface ReplicatorOptions {
  store: Store;
  brokerUrl: string;
  token?: string;
  /** Nodes' own secret (credentials.ts): the broker password is derived from it, and peers are called with it. */
  nodeToken?: string;
  prefix?: string;
  heartbeatMs: number;
  /** This node's status without the replication fields (added here). */
  status: () => Record<string, unknown>;
  log: Log;
  metrics: Metrics;
  now?: () => number;
  /** The timers of ack waits and of prompt status updates (default: the runtime's); a seam for tests. */
  timers?: Timers;
  /** Members not seen online for this long leave the member list (default 24 h; membership.ts). */
  memberTtlMs?: number;
  /** A peer's answer must begin within this (default 3000; peers.ts). */
  peerAnswerMs?: number;
}

/** Members listed in a status's `cluster` at most, and the longest URL shown there (statuses stay small: MAX_PAYLOAD_BYTES). */
export const STATUS_MEMBERS = 64;
export const STATUS_URL_CHARS = 256;

export class Replicator {
  readonly membership: Membership;
  /** Peers that keep failing: catch-up asks them last, anti-entropy skips them for a while. */
  readonly backoff: PeerBackoff;
  readonly #o: ReplicatorOptions;
  readonly #store: Store;
  readonly #id: string;
  readonly #now: () => number;
  readonly #timers: Timers;
  #bus!: Bus;
  readonly #acks: AckWaits;
  readonly #incoming: Incoming;
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
    const forgotten = JSON.parse(this.#store.index.getMeta('forgotten_members') ?? '{}');
    this.membership = new Membership(this.#id, remembered, { ttlMs: options.memberTtlMs, now: this.#now(), forgotten });
    this.backoff = new PeerBackoff({ now: this.#now });
    this.#gets = new PeerGets({
      token: options.nodeToken ?? options.token,
      answerMs: options.peerAnswerMs,
      isMemberUrl: (url) => this.membership.isMemberUrl(url),
    });
    this.#acks = new AckWaits({ nodeId: this.#id, membership: this.membership, now: this.#now, timers: this.#timers });
    const ignored = options.metrics.counter('nuvem_mqtt_ignored_total', 'MQTT messages ignored as malformed or untrusted, by reason');
    this.#count = (reason) => ignored({ reason });
    this.#incoming = new Incoming({
      store: this.#store,
      membership: this.membership,
      gets: this.#gets,
      backoff: this.backoff,
      prefix: options.prefix,
      log: options.log,
      metrics: options.metrics,
      now: this.#now,
      ignored: this.#count,
      publish: (topic, payload) => this.#bus.publish(topic, payload),
      resync: (peer, o) => resyncFrom(this.#store, { peers: this, peer, ...o }),
    });
    this.#pushed = options.metrics.counter('nuvem_push_total', 'Uploads streamed to a peer while arriving, by outcome');
    options.metrics.gauge('nuvem_peer_heartbeat_age_seconds', 'Age of the last heartbeat per peer', () =>
      this.membership.known().map((m) => ({ labels: { peer: m.id }, value: m.receivedAt ? (this.#now() - m.receivedAt) / 1000 : -1 })));
  }

  start(): void {
    const prefix = this.#o.prefix;
    this.#bus = connectBus({
      url: this.#o.brokerUrl,
      nodeId: this.#id,
      password: this.#o.nodeToken ? nodeCredential(this.#o.nodeToken, this.#id) : this.#o.token,
      prefix,
      heartbeatMs: this.#o.heartbeatMs,
      status: () => this.status(),
      subscriptions: [`${prefix ?? 'nuvem'}/nodes/+/status`, `${prefix ?? 'nuvem'}/files/#`, ackTopic(this.#id, { prefix })],
      onMessage: (topic, payload, retained) => {
        try {
          this.#onMessage(topic, payload, retained);
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

  /**
   * The status heartbeat: the node's fields plus applied vector, lag and its
   * view of the cluster. That view stays small whatever the member count
   * (a status must fit in MAX_PAYLOAD_BYTES, or the node looks offline):
   * at most STATUS_MEMBERS members, online ones first, URLs longer than
   * STATUS_URL_CHARS left out, and `members` counts them all.
   */
  status(): Record<string, unknown> {
    this.#expireMembers();
    const applied = this.#store.applied();
    const now = this.#now();
    const known = this.membership.known();
    const listed = [...known].sort((a, b) => Number(isOnline(b, now)) - Number(isOnline(a, now)) || (b.seenAt ?? 0) - (a.seenAt ?? 0)).slice(0, STATUS_MEMBERS);
    return {
      ...this.#o.status(),
      seq: this.#store.seq,
      applied,
      lag: lagOf(applied, known),
      members: known.length,
      cluster: listed.map((m) => ({
        id: m.id,
        ...(m.url.length <= STATUS_URL_CHARS ? { url: m.url } : {}),
        state: isOnline(m, now) ? 'online' : 'offline',
        heartbeatAgeMs: m.receivedAt ? now - m.receivedAt : null,
      })),
    };
  }

  /** Members as this node sees them (`GET /members`). */
  members(): { id: string; url: string; state: string; seenAt: number; heartbeatAgeMs: number | null; verified: boolean }[] {
    const now = this.#now();
    return this.membership.known().map((m) => ({
      id: m.id, url: m.url, state: isOnline(m, now) ? 'online' : 'offline', seenAt: m.seenAt ?? 0,
      heartbeatAgeMs: m.receivedAt ? now - m.receivedAt : null, verified: m.verified,
    }));
  }

  /**
   * Forgets member `id` now (`DELETE /members/{id}`, `nuvem members forget`),
   * and tells the others: its retained status on the broker is cleared (an
   * empty retained message, which nodes may publish for another node's
   * status), and every node that receives that forgets it too. A member that
   * is online cannot be forgotten (its next heartbeat would bring it back).
   */
  forgetMember(id: string): { forgotten: string; wasMember: boolean } {
    if (id === this.#id) throw new NuvemError('conflict', `Cannot forget ${id}: it is this node`);
    const m = this.membership.get(id);
    if (m && isOnline(m, this.#now())) throw new NuvemError('conflict', `Cannot forget ${id}: it is online (stop it first)`);
    const wasMember = this.#forget(id);
    if (this.#bus?.connected) this.#bus.publish(statusTopic(id, { prefix: this.#o.prefix }), '', { retain: true });
    return { forgotten: id, wasMember };
  }

  #forget(id: string): boolean {
    const was = this.membership.forget(id, this.#now());
    this.#rememberMembers();
    this.#acks.wake();
    if (was) {
      this.#o.log('info', 'forgot a member', { member: id });
      this.publishEvent({ type: 'left', member: id, reason: 'forgotten' });
    }
    return was;
  }

  #lastRemembered = 0;

  /** Drops members unseen for the TTL; remembers the list (and when each was seen) at most every minute otherwise. */
  #expireMembers(): void {
    const now = this.#now();
    const gone = this.membership.expire(now);
    for (const id of gone) {
      this.#o.log('info', 'a member unseen for longer than the member TTL left the member list', { member: id, ttlMs: this.membership.ttlMs });
      this.publishEvent({ type: 'left', member: id, reason: 'ttl' });
    }
    if (gone.length) this.#acks.wake();
    if (gone.length || now - this.#lastRemembered > 60_000) this.#rememberMembers();
  }

  #rememberMembers(): void {
    this.#lastRemembered = this.#now();
    this.#store.index.setMeta('peers', JSON.stringify(this.membership.urls()));
    this.#store.index.setMeta('forgotten_members', JSON.stringify(this.membership.forgotten()));
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
    this.#incoming.close();
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
      token: this.#o.nodeToken ?? this.#o.token,
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

  #onMessage(topic: string, payload: Buffer, retained = false): void {
    const parsed = parseTopic(topic, { prefix: this.#o.prefix });
    if (!parsed) return this.#count('topic');
    if (parsed.kind === 'status') {
      // An empty retained status: a node forgot that member (forgetMember).
      if (payload.length === 0) {
        if (parsed.node !== this.#id && this.membership.get(parsed.node) && !isOnline(this.membership.get(parsed.node)!, this.#now())) this.#forget(parsed.node);
        return;
      }
      const m = parseStatusMessage(payload);
      if (!m.ok || m.value.id !== parsed.node) return this.#count('status');
      this.#onStatus(m.value, retained);
    } else if (parsed.kind === 'file') {
      const m = parseChangeMessage(payload);
      if (!m.ok || m.value.path !== parsed.path) return this.#count('change');
      if (m.value.origin === this.#id) return;
      if (!this.membership.get(m.value.origin)) return this.#count('unknown_origin');
      this.#incoming.enqueue(m.value);
    } else if (parsed.kind === 'ack') {
      const m = parseAckMessage(payload);
      if (!m.ok || m.value.origin !== this.#id) return this.#count('ack');
      if (!this.#store.holdsChange(m.value)) return this.#count('ack');
      this.#acks.add(m.value.seq, m.value.node);
    }
  }

  #onStatus(status: Parameters<Membership['update']>[0], retained: boolean): void {
    const before = this.membership.get(status.id);
    // A heartbeat showing a peer back (online after offline or stale, or restarted) clears its failures.
    const back = status.state === 'online' && !retained &&
      (!before || !isOnline(before, this.#now()) || before.status?.startedAt !== status.startedAt);
    if (back) this.backoff.clear(status.id);
    const known = before !== undefined;
    if (this.membership.update(status, this.#now(), { retained })) this.#rememberMembers();
    const member = this.membership.get(status.id);
    // A member this node never knew (not remembered from before a restart either).
    if (!known && member) this.publishEvent({ type: 'joined', member: member.id, url: member.url });
    if (member) this.#verify(member);
    // A peer has applied more of this node's changes than this node made: it
    // was restored from an older copy of its data folder. Its next changes
    // take seqs after those, so peers apply them in order again.
    // (Verified members only, and never near the end of the seq format.)
    const mineThere = status.applied[this.#id] ?? 0;
    if (member?.verified && mineThere > this.#store.seq && mineThere < 2 ** 52) this.#store.skipSeqTo(mineThere);
    this.#acks.wake();
    const mine = this.#store.applied();
    const ahead = { ...status.applied, [status.id]: status.seq };
    for (const [origin, seq] of Object.entries(ahead)) {
      if (origin !== this.#id && seq > (mine[origin] ?? 0)) this.#incoming.pump(origin);
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
        const body = await readJson<{ id?: string }>(res, 1024 * 1024);
        if (res.ok && body.id === member.id) {
          this.membership.verify(member.id, url);
          this.#verifying.delete(member.id);
          this.#acks.wake();
          this.#incoming.pump(member.id);
        }
      })
      .catch(() => {});
  }

  #publishChange(change: Change): void {
    // The bus drops what it cannot send now (peers catch up from the logs): no message to build.
    if (!this.#bus?.connected) return;
    this.#bus.publish(fileTopic(change.path, { prefix: this.#o.prefix }), changeMessage(change));
  }

  /** Starts a catch-up for every origin some peer is ahead on (at connect, and from anti-entropy). */
  catchUpAll(): void {
    for (const o of originsBehind(this.membership, { self: this.#id, applied: this.#store.applied() })) this.#incoming.pump(o);
  }

  /**
   * Resolves once no drain of peers' changes runs (polled every 100 ms), or
   * after `maxMs`: anti-entropy waits for a running catch-up rather than
   * compare digests that the catch-up is about to make equal.
   */
  async drained(maxMs: number): Promise<void> {
    for (let waited = 0; this.#incoming.draining && waited < maxMs; waited += 100) await new Promise((r) => setTimeout(r, 100));
  }

  /** Members to compare digests with (anti-entropy): online ones, and remembered ones when no heartbeat is known. */
  peersForRepair(): Member[] {
    const now = this.#now();
    for (const m of this.membership.known()) this.#verify(m);
    return this.membership.known().filter((m) => m.verified && (isOnline(m, now) || !m.status || !this.#bus?.connected));
  }

  /** Content by SHA-256 from `members` in turn, a member per call (peers.ts `source`). */
  contentSource(sha256: string, members: Member[], origin?: string): () => Promise<AsyncIterable<Uint8Array>> {
    return this.#gets.source(sha256, { members, origin });
  }

  /** Publishes a notable event of this node on `nuvem/events/{id}` (conflict, repair, …), when the broker is there. */
  publishEvent(event: EventMessage): void {
    if (!this.#bus?.connected) return;
    this.#bus.publish(eventTopic(this.#id, { prefix: this.#o.prefix }), eventMessage({ ...event, node: this.#id, ts: this.#now() }));
  }

  /** GET `path` on `member` (member URLs only, with the token); a status other than 2xx rejects. */
  get(member: Member, path: string): Promise<Response> {
    return this.#gets.get(member, path);
  }
}
