/**
 * Catch-up when a peer pruned the changes this node needs from its log
 * (log_prune.ts; the peer answers 410 with its applied vector): a node
 * restored from an old copy of its data folder, or one that was forgotten as
 * a member and came back. The node repairs from that peer by digests
 * (anti_entropy.ts `repairFrom`), taking changes it has not reached in their
 * origin's order too, and once the whole repair went through, holds
 * everything the peer held when it answered: it moves `applied[origin]` to
 * the peer's, and catch-up goes on from there.
 */
import { repairFrom, type RepairPeers } from './anti_entropy.ts';
import type { Member } from './membership.ts';
import type { Store } from './store.ts';

/** Repairs from `peer` and moves `applied[origin]` to `theirs`; returns the records repaired. */
export async function resyncFrom(store: Store, options: { peers: Omit<RepairPeers, 'connected' | 'isOnline'>; peer: Member; origin: string; theirs: number }): Promise<number> {
  const { peers } = options;
  const taking: RepairPeers = {
    connected: false, // nothing is in flight: take every change the peer has that wins here
    isOnline: () => false,
    get: (m, p) => peers.get(m, p),
    contentSource: (sha, members, origin) => peers.contentSource(sha, members, origin),
    peersForRepair: () => peers.peersForRepair(),
  };
  const repaired = await repairFrom(store, taking, options.peer);
  await store.advanceApplied(options.origin, options.theirs);
  return repaired;
}
