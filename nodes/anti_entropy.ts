/**
 * Anti-entropy: compares digests of live records with each peer (per bucket
 * of the path space) and, where a bucket differs, pulls every record of it
 * (tombstones included) where the peer's wins over this node's, with its
 * content. Runs at start and every `intervalMs`, with or without the broker
 * (peers are remembered in the index). Each node pulls; so a pair converges
 * once both have run. Each pass ends by purging the tombstones every known
 * member has applied (purge.ts).
 */
import { checkedChange } from '../protocol/messages.ts';
import { wins } from './conflict.ts';
import type { Log } from '../protocol/log.ts';
import type { Member } from './membership.ts';
import type { Metrics } from '../protocol/metrics.ts';
import { PurgePlanner } from './purge.ts';
import type { Change, FileRecord } from '../protocol/record.ts';
import type { Replicator } from './replicator.ts';
import type { Store } from './store.ts';
import { readJson } from './peers.ts';

export function changeOf(r: FileRecord): Change {
  return { ...r, op: r.deleted ? 'delete' : r.type === 'folder' ? 'mkcol' : 'put' };
}

/** What a pass needs of the replicator (resync.ts passes one that takes changes in flight too). */
export type RepairPeers = Pick<Replicator, 'connected' | 'isOnline' | 'get' | 'contentSource' | 'peersForRepair'>;

/** One pass against one peer; returns the number of records repaired. */
export async function repairFrom(store: Store, replicator: RepairPeers, peer: Member): Promise<number> {
  const answer = await readJson<{ buckets: Record<string, string>; scan?: unknown }>(await replicator.get(peer, '/internal/digest'));
  const theirs = answer.buckets;
  // Bucket requests name the digest's scan: the peer answers them from it, scanning its index once a pass.
  const scan = typeof answer.scan === 'string' && /^[0-9a-z-]{1,64}$/.test(answer.scan) ? `?scan=${answer.scan}` : '';
  const mine = await store.digest();
  let repaired = 0;
  const failed: string[] = [];
  for (const bucket of new Set([...Object.keys(theirs), ...Object.keys(mine)])) {
    // A bucket missing from the peer's digest may still hold its tombstones.
    if (theirs[bucket] === mine[bucket]) continue;
    const { records } = await readJson<{ records: FileRecord[] }>(await replicator.get(peer, `/internal/digest/${Number(bucket)}${scan}`));
    for (const raw of records) {
      const checked = checkedChange(changeOf(raw));
      if (!checked.ok) continue;
      const change = checked.value;
      // With the broker up and the origin online, a change this node has not
      // reached in its origin's order is in flight: catch-up brings it, in order.
      const inFlight = change.seq > (store.applied()[change.origin] ?? 0);
      if (inFlight && replicator.connected && replicator.isOnline(change.origin)) continue;
      const current = store.get(change.path);
      // No record here, and the peer's is a tombstone (it changes nothing
      // visible) or this very change (origin, seq and version) applied here
      // (so its record here ranked at least as high): this node purged that
      // path's tombstone, and taking the record would bring it, or the
      // deleted version, back. A change whose seq was passed but which is
      // not in the log (a seq an origin restored from a backup gave again,
      // or one a forged notice took) is one this node lacks: it is taken,
      // unless the log no longer reaches back to that seq (pruned).
      if (!current && (raw.deleted || (!inFlight && (store.holdsChange(change) || !store.index.logReaches(change.origin, change.seq))))) continue;
      const incoming = { ...change, prev: raw.deleted ? raw.prev : undefined };
      if (current && (current.version === change.version || !wins(incoming, current))) continue;
      try {
        await store.applyRemote({ ...change, prev: incoming.prev }, {
          advance: false,
          fetchContent: replicator.contentSource(change.sha256, [peer, ...replicator.peersForRepair()]),
        });
        repaired++;
      } catch (err) {
        // One record that cannot be applied never holds back the others.
        failed.push(`${change.path}: ${(err as Error)?.message ?? err}`);
      }
    }
  }
  if (failed.length) throw new Error(`repaired ${repaired} record(s); ${failed.length} could not be applied, e.g. ${failed[0]}`);
  return repaired;
}

/** How long a pass waits at most for a running catch-up to end. */
const CATCH_UP_WAIT_MS = 10_000;

export function startAntiEntropy(options: {
  store: Store;
  replicator: Replicator;
  intervalMs: number;
  log: Log;
  metrics: Metrics;
}): { runOnce(): Promise<number>; stop(): void } {
  const repairs = options.metrics.counter('nuvem_anti_entropy_repairs_total', 'Records repaired by anti-entropy');
  const purged = options.metrics.counter('nuvem_tombstones_purged_total', 'Tombstones forgotten once every known member had applied them');
  const prunedLog = options.metrics.counter('nuvem_log_pruned_total', 'Change-log entries pruned once every member held them (the newest --changes-keep stay)');
  prunedLog({}, 0);
  const runs = options.metrics.counter('nuvem_anti_entropy_runs_total', 'Anti-entropy passes run (at start and every interval)');
  const failures = options.metrics.counter('nuvem_anti_entropy_peer_failures_total', 'Digest comparisons with a peer that failed (the next pass tries again)');
  runs({}, 0);
  failures({}, 0);
  const planner = new PurgePlanner();
  const purge = async () => {
    const { store, replicator } = options;
    const members = [
      { id: store.nodeId, applied: store.applied() },
      ...replicator.membership.known().map((m) => ({ id: m.id, applied: m.status?.applied })),
    ];
    const n = await store.purge(planner.plan(store.index.tombstones(), members));
    purged({}, n);
    if (n) options.log('debug', 'purged tombstones every member has applied', { count: n });
    const pruned = await store.pruneLog(members);
    prunedLog({}, pruned);
    if (pruned) options.log('debug', 'pruned change-log entries every member has applied', { count: pruned });
  };
  // Peers that keep failing (a vanished host) are skipped while they cool
  // (peer_backoff.ts, shared with catch-up): 2 s after a failure, doubling
  // with each failure in a row, at most 5 min.
  const { backoff } = options.replicator;
  const repairWith = async (peer: Member): Promise<number> => {
    try {
      const n = await repairFrom(options.store, options.replicator, peer);
      backoff.succeeded(peer.id);
      if (n) {
        options.log('info', 'anti-entropy repaired records', { peer: peer.id, count: n });
        options.replicator.publishEvent({ type: 'repair', peer: peer.id, count: n });
      }
      repairs({}, n);
      return n;
    } catch (err) {
      failures();
      backoff.failed(peer.id);
      options.log('debug', 'anti-entropy pass with a peer failed', { peer: peer.id, error: String((err as Error)?.message ?? err) });
      return 0;
    }
  };
  let running: Promise<number> | undefined;
  const runOnce = () =>
    (running ??= (async () => {
      // Every peer at once: one that does not answer holds up nobody's repair.
      // A catch-up running (at start, after a partition) brings most of what
      // the digests would show, far cheaper: let it finish first.
      await options.replicator.drained?.(CATCH_UP_WAIT_MS);
      const counts = await Promise.all(options.replicator.peersForRepair().filter((p) => !backoff.cooling(p.id)).map(repairWith));
      const total = counts.reduce((a, b) => a + b, 0);
      if (total) options.replicator.catchUpAll();
      await purge().catch((err) => options.log('warn', 'purging tombstones failed; the next pass tries again', { error: String((err as Error)?.message ?? err) }));
      runs();
      return total;
    })().finally(() => (running = undefined)));
  const first = setTimeout(() => void runOnce(), 500);
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  return {
    runOnce,
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
