/**
 * Peers' changes coming in: notices wait per origin until their turn, each
 * origin's changes are applied in seq order (content from member URLs only,
 * verified before commit, store.applyRemote), and each is then acknowledged
 * on `nuvem/acks/{origin}`. A gap in the seqs, or a peer ahead, is filled
 * from the peers' logs (catch_up.ts).
 */
import { ackMessage, eventMessage } from '../protocol/messages.ts';
import { ackTopic, eventTopic } from '../protocol/topics.ts';
import { CATCH_UP_HEDGE_MS, LogGone, LogReader, peerIsAhead, peersFor } from './catch_up.ts';
import { askHedged } from './hedged.ts';
import { ancestorsOf } from '../protocol/paths.ts';
import { isConflict } from './conflict.ts';
import { isDiskFault } from './disk.ts';
import { NuvemError } from '../protocol/errors.ts';
import type { Log } from '../protocol/log.ts';
import type { Member, Membership } from './membership.ts';
import type { Metrics } from '../protocol/metrics.ts';
import type { PeerBackoff } from './peer_backoff.ts';
import type { PeerGets } from './peers.ts';
import type { Change, FileRecord } from '../protocol/record.ts';
import type { ContentSource, Store } from './store.ts';

export interface IncomingOptions {
  store: Store;
  membership: Membership;
  gets: PeerGets;
  /** Peers that keep failing (shared with anti-entropy): asked last. */
  backoff: PeerBackoff;
  /** How long catch-up waits for a peer's answer before asking the next one as well (CATCH_UP_HEDGE_MS). */
  hedgeMs?: number;
  prefix?: string;
  log: Log;
  metrics: Metrics;
  now: () => number;
  /** Counts a message ignored as malformed or untrusted, by reason. */
  ignored: (reason: string) => void;
  /** Publishes on the broker: acks, conflict events. */
  publish: (topic: string, payload: string) => void;
  /**
   * When `peer` pruned the changes of `origin` this node needs (410): repair
   * from it by digests and move `applied[origin]` to `theirs` (resync.ts).
   */
  resync?: (peer: Member, options: { origin: string; theirs: number }) => Promise<number>;
}

/** Where a run of changes came from: notices (hints) or a peer's log. */
interface Via {
  sources: (Member | undefined)[];
  fromLog: boolean;
  /** Small files' bytes carried by a log page, by SHA-256 (verified when applied). */
  carried?: Map<string, Uint8Array>;
}

/** Consecutive changes applied together, and how many at once. */
const BATCH = 256;
const CONCURRENCY = 16;

/** A content source that answers carried bytes first (a copy failing its hash moves on to the peers). */
function carriedFirst(bytes: Uint8Array | undefined, fetch: ContentSource): ContentSource {
  if (!bytes) return fetch;
  let used = false;
  return async () => {
    if (used) return fetch();
    used = true;
    return (async function* () {
      yield bytes;
    })();
  };
}

export class Incoming {
  readonly #warnedAhead = new Set<string>();
  readonly #o: IncomingOptions;
  readonly #store: Store;
  readonly #id: string;
  /** Notices waiting for their turn, per origin, by seq and version (a seq alone does not name a change). */
  readonly #waiting = new Map<string, Map<number, Map<string, Change>>>();
  readonly #pumping = new Set<string>();
  readonly #pumpAgain = new Set<string>();
  /** Failures so far of changes from logs that could not be applied, by origin, seq and version. */
  readonly #failures = new Map<string, number>();
  #closed = false;
  /** Peers' logs, read a page ahead during a catch-up. */
  readonly #logs: LogReader;

  constructor(options: IncomingOptions) {
    this.#o = options;
    this.#logs = new LogReader(options.gets);
    this.#store = options.store;
    this.#id = options.store.nodeId;
  }

  /** Queues a notice of a peer's change and applies what can be applied. */
  enqueue(change: Change): void {
    let queue = this.#waiting.get(change.origin);
    if (!queue) this.#waiting.set(change.origin, (queue = new Map()));
    let same = queue.get(change.seq);
    if (!same) queue.set(change.seq, (same = new Map()));
    same.set(change.version, change);
    this.pump(change.origin);
  }

  /** Applies what can be applied for `origin`: queued notices in order, then the peers' logs for any gap. */
  pump(origin: string): void {
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
        if (this.#pumpAgain.delete(origin)) this.pump(origin);
      });
  }

  /** Is some origin's drain (notices or a catch-up from the logs) running? */
  get draining(): boolean {
    return this.#pumping.size > 0;
  }

  /** Stops: no drain starts, running ones end at their next round. */
  close(): void {
    this.#closed = true;
  }

  async #drain(origin: string): Promise<void> {
    for (let rounds = 0; rounds < 1000 && !this.#closed; rounds++) {
      const queue = this.#waiting.get(origin) ?? new Map<number, Map<string, Change>>();
      const applied = this.#store.applied()[origin] ?? 0;
      // A seq already applied may name another change: one a restored origin
      // gave that seq again, or the real one after a forged notice took it.
      const late: Change[] = [];
      for (const [seq, same] of [...queue]) {
        if (seq > applied) continue;
        queue.delete(seq);
        for (const c of same.values()) if (!this.#store.holdsChange(c)) late.push(c);
      }
      if (late.length) {
        await this.#applyLate(late);
        continue;
      }
      const run: Change[] = [];
      for (let seq = applied + 1; queue.has(seq) && run.length < BATCH; seq++) {
        run.push(...queue.get(seq)!.values());
        queue.delete(seq);
      }
      if (run.length) {
        await this.#applyRun(run, { sources: [this.#o.membership.get(origin)], fromLog: false });
        continue;
      }
      if (!peerIsAhead(this.#o.membership, { origin, applied, queued: queue.size })) return;
      if (!(await this.#catchUp(origin, applied))) return;
    }
  }

  /**
   * Pulls `origin`'s changes after `applied` from a peer's log; true if it
   * made progress. Peers are asked hedged (hedged.ts), best-ranked first
   * (the origin, then those that applied the most of it; peers cooling after
   * failures last): the first page with changes wins and the other requests
   * are aborted. When no peer has a page but one pruned those changes (410),
   * this node repairs from it by digests.
   */
  async #catchUp(origin: string, applied: number): Promise<boolean> {
    const { membership, metrics, backoff } = this.#o;
    const runs = metrics.counter('nuvem_catch_up_runs_total', 'Catch-up pulls from peers\' logs, by whether they brought changes');
    type Answer = { run: Change[]; carried: Map<string, Uint8Array> } | { gone: number };
    // Read again whenever a next peer is wanted: a member verified meanwhile is asked too.
    const peers = () => backoff.order(peersFor(membership, { origin, now: this.#o.now() }));
    const { winner, answers } = await askHedged<Member, Answer>(peers, {
      ask: async (peer, signal) => {
        try {
          const page = await this.#logs.read({ peer, origin, after: applied, signal, onInvalid: () => this.#o.ignored('log') });
          if (!page) throw new Error(`${peer.id} did not answer`);
          return page;
        } catch (err) {
          if (!(err instanceof LogGone)) throw err;
          return { gone: err.applied[origin] ?? 0 };
        }
      },
      useful: (a) => 'run' in a && a.run.length > 0,
      key: (peer) => peer.id,
      hedgeMs: this.#o.hedgeMs ?? CATCH_UP_HEDGE_MS,
      // A peer still silent when another answered counts as failing too: it is asked last for a while.
      onOutcome: (peer, outcome) => (outcome === 'answered' ? backoff.succeeded(peer.id) : backoff.failed(peer.id)),
    });
    if (winner && 'run' in winner.value) {
      const peer = winner.peer;
      const { run, carried } = winner.value;
      for (let i = 0; i < run.length; i += BATCH) {
        await this.#applyRun(run.slice(i, i + BATCH), { sources: [peer, membership.get(origin)], fromLog: true, carried });
      }
      metrics.counter('nuvem_catch_up_changes_total', 'Changes applied from peers\' logs by catch-up')({}, run.length);
      runs({ outcome: 'progress' });
      return true;
    }
    for (const { peer, value } of answers) {
      if (!('gone' in value) || value.gone <= applied || !this.#o.resync) continue;
      this.#o.log('info', 'a peer pruned the changes this node needs from its log; repairing from it by digests', { peer: peer.id, origin, after: applied });
      try {
        await this.#o.resync(peer, { origin, theirs: value.gone });
      } catch (resyncErr) {
        this.#o.log('warn', 'repairing from a peer by digests failed; will retry', { peer: peer.id, origin, error: String((resyncErr as Error)?.message ?? resyncErr) });
        continue;
      }
      runs({ outcome: 'resync' });
      return true;
    }
    runs({ outcome: 'none' });
    return false;
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
    // Paths in the segment and their folders: a change whose path is one of
    // them, or under one, waits for the segment (a folder before its files,
    // a file's delete before a folder of its name).
    const inSegment = new Set<string>();
    const foldersInSegment = new Set<string>();
    const related = (path: string) => foldersInSegment.has(path) || ancestorsOf(path).some((a) => inSegment.has(a));
    const flush = async () => {
      const byPath = new Map<string, Change[]>();
      for (const c of segment) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
      const lanes = [...byPath.values()];
      let next = 0;
      const worker = async () => {
        while (next < lanes.length) for (const c of lanes[next++]) await this.#apply(c, { ...via, advance: false });
      };
      // With the bytes at hand, nothing waits on the network: many more lanes share each group commit.
      await Promise.all(Array.from({ length: Math.min(via.carried?.size ? BATCH : CONCURRENCY, lanes.length) }, worker));
      segment = [];
      inSegment.clear();
      foldersInSegment.clear();
    };
    for (const c of run) {
      if (c.op === 'move') {
        await flush();
        await this.#apply(c, { ...via, advance: false });
      } else {
        if (related(c.path)) await flush();
        segment.push(c);
        inSegment.add(c.path);
        for (const a of ancestorsOf(c.path)) foldersInSegment.add(a);
      }
    }
    await flush();
    const last = run[run.length - 1];
    await this.#store.advanceApplied(last.origin, last.seq);
    for (const c of run) this.#ack(c);
  }

  /**
   * Changes whose seq this node has passed but which it does not hold (by
   * version): applied one by one, without moving `applied`; one that cannot
   * be applied (content gone, a forged notice) is dropped, not retried.
   */
  async #applyLate(changes: Change[]): Promise<void> {
    for (const c of changes) {
      try {
        await this.#apply(c, { sources: [this.#o.membership.get(c.origin)], fromLog: false, advance: false });
        this.#ack(c);
      } catch (err) {
        this.#o.log('info', 'a change whose seq was already applied could not be applied; anti-entropy repairs what is real', {
          origin: c.origin, seq: c.seq, version: c.version, path: c.path, error: String((err as Error)?.message ?? err),
        });
      }
    }
  }

  #ack(change: Change): void {
    this.#o.publish(ackTopic(change.origin, { prefix: this.#o.prefix }), ackMessage({
      node: this.#id,
      origin: change.origin,
      seq: change.seq,
      path: change.path,
      version: change.version,
    }));
  }

  /**
   * Applies one change; from a log, a change that keeps failing (three
   * times) is passed over, so it does not hold back the rest of its origin:
   * it stays out of the log, so anti-entropy takes it once it can be had.
   * A failure of this node's own disk never counts: the change waits for space.
   */
  async #apply(change: Change, via: Via & { advance: boolean }): Promise<void> {
    if (!via.fromLog) return this.#applyOne(change, via);
    const key = `${change.origin} ${change.seq} ${change.version}`;
    try {
      await this.#applyOne(change, via);
      this.#failures.delete(key);
    } catch (err) {
      // Not the change's fault: a version ahead of the clock, or this node's own disk full or failing.
      if ((err instanceof NuvemError && err.extra.aheadOfClock) || isDiskFault(err)) throw err;
      const n = (this.#failures.get(key) ?? 0) + 1;
      if (n < 3) {
        this.#failures.set(key, n);
        throw err;
      }
      this.#failures.delete(key);
      this.#o.log('warn', 'passed over a change that failed three times; anti-entropy brings it once it can be applied', {
        origin: change.origin, seq: change.seq, version: change.version, path: change.path, error: String((err as Error)?.message ?? err),
      });
      if (via.advance) await this.#store.advanceApplied(change.origin, change.seq);
    }
  }

  async #applyOne(change: Change, via: Via & { advance: boolean }): Promise<void> {
    const { advance } = via;
    const peers = peersFor(this.#o.membership, { origin: change.origin, now: this.#o.now() });
    const members = [...new Set([...via.sources.filter((m): m is Member => m !== undefined), ...peers])];
    let result;
    try {
      result = await this.#store.applyRemote(change, {
        advance,
        fetchContent: carriedFirst(via.carried?.get(change.sha256), this.#o.gets.source(change.sha256, { members, origin: change.origin })),
      });
    } catch (err) {
      if (err instanceof NuvemError && err.extra.aheadOfClock) {
        this.#aheadOfClock(change);
        throw err;
      }
      // A notice is only a hint: one whose content cannot be had or verified
      // is dropped (and counted); the origin's log is the authority.
      if (!via.fromLog) this.#o.ignored('content');
      if (!(via.fromLog && err instanceof NuvemError && err.extra.gone)) throw err;
      // The origin's own log has this change but the origin no longer holds
      // its content: the version was replaced and its revision pruned there,
      // so a newer change of the path follows. Count it as applied, no bytes.
      await this.#store.markApplied(change, { advance });
      result = { outcome: 'duplicate' as const };
    }
    if (advance) this.#ack(change);
    if (result.outcome === 'lost' && isConflict(result.winner, change)) this.#conflict(change.path, { winner: result.winner, loser: change });
    if (result.outcome === 'applied' && result.loser && isConflict(change, result.loser)) this.#conflict(change.path, { winner: change, loser: result.loser });
    // A file and a folder of one name: the record that lost the name is kept as a revision (clash.ts).
    for (const clash of (result.outcome === 'applied' && result.clashes) || []) this.#conflict(clash.loser.path, { ...clash, kind: 'clash' });
  }

  /** Counted every time; one warning per origin, so a skewed or forging peer cannot flood the log. */
  #aheadOfClock(change: Change): void {
    this.#o.ignored('clock');
    if (this.#warnedAhead.has(change.origin)) return;
    this.#warnedAhead.add(change.origin);
    this.#o.log('warn', 'refused changes more than a minute ahead of this node\'s clock; check the clocks (NTP)', {
      origin: change.origin, version: change.version, path: change.path,
    });
  }

  #conflict(path: string, records: { winner: FileRecord; loser: FileRecord; kind?: 'clash' }): void {
    const { winner, loser } = records;
    this.#o.metrics.counter('nuvem_conflicts_total', 'Concurrent writes resolved (the loser kept as a revision)')();
    const clash = records.kind ? { clash: true, winnerPath: winner.path, loserType: loser.type } : {};
    this.#o.publish(eventTopic(this.#id, { prefix: this.#o.prefix }), eventMessage({
      type: 'conflict', node: this.#id, ts: this.#o.now(), path, version: winner.version, winner: winner.version, loser: loser.version, ...clash,
    }));
  }
}
