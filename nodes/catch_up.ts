/**
 * Catch-up: a node that misses some of an origin's changes (a gap in its
 * seqs, a heartbeat showing a peer ahead, a (re)connect to the broker) pulls
 * them from the peers' logs (`/internal/log?origin=&after=`), origin first.
 * This module decides who is ahead and whom to ask, and reads one page of a
 * log, checked like a notice; incoming.ts applies what it returns.
 */
import { parseChangeMessage } from '../protocol/messages.ts';
import { isOnline, type Member, type Membership } from './membership.ts';
import { type PeerGets, readJson } from './peers.ts';
import type { Change } from '../protocol/record.ts';

/** Changes asked for per log request. */
export const CATCH_UP_PAGE = 500;

/** Peers to ask for `origin`'s changes: the origin first, then those that applied the most of it. */
export function peersFor(membership: Membership, options: { origin: string; now: number }): Member[] {
  const { origin, now } = options;
  const score = (m: Member) => (m.id === origin ? Infinity : m.status?.applied[origin] ?? 0);
  return membership.known()
    .filter((m) => m.verified && (isOnline(m, now) || !m.status))
    .sort((a, b) => score(b) - score(a));
}

/** Is there more of `origin` than `applied` to have: notices queued, or a peer whose status shows more? */
export function peerIsAhead(membership: Membership, options: { origin: string; applied: number; queued: number }): boolean {
  const { origin, applied } = options;
  if (options.queued > 0) return true;
  return membership.known().some((m) => {
    const theirs = m.id === origin ? m.status?.seq : m.status?.applied[origin];
    return (theirs ?? 0) > applied;
  });
}

/** Every origin some peer is ahead on, given this node's applied vector. */
export function originsBehind(membership: Membership, options: { self: string; applied: Record<string, number> }): string[] {
  const origins = new Set<string>();
  for (const m of membership.known()) {
    origins.add(m.id);
    for (const o of Object.keys(m.status?.applied ?? {})) origins.add(o);
  }
  origins.delete(options.self);
  return [...origins].filter((o) => peerIsAhead(membership, { origin: o, applied: options.applied[o] ?? 0, queued: 0 }));
}

/** The peer pruned the changes asked for from its log (410): `applied` is its vector then. */
export class LogGone extends Error {
  readonly applied: Record<string, number>;
  constructor(peer: string, applied: Record<string, number>) {
    super(`${peer} pruned the changes asked for from its log`);
    this.name = 'LogGone';
    this.applied = applied;
  }
}

/**
 * `origin`'s changes after `after` from `peer`'s log: the valid consecutive
 * run it starts with (a malformed entry is counted through `onInvalid` and
 * ends the run). Undefined when the peer did not answer; throws `LogGone`
 * when it pruned them (resync.ts repairs by digests instead).
 */
export async function readLog(
  gets: PeerGets,
  options: { peer: Member; origin: string; after: number; onInvalid: () => void },
): Promise<Change[] | undefined> {
  const { origin, after } = options;
  let changes: Change[];
  try {
    const res = await gets.get(options.peer, `/internal/log?origin=${origin}&after=${after}&limit=${CATCH_UP_PAGE}`);
    changes = (await readJson<{ changes: Change[] }>(res)).changes;
  } catch (err) {
    const { status, detail } = err as { status?: number; detail?: { applied?: unknown } };
    if (status === 410 && detail && typeof detail.applied === 'object' && detail.applied !== null) {
      const applied: Record<string, number> = {};
      for (const [o, s] of Object.entries(detail.applied)) if (Number.isSafeInteger(s) && (s as number) >= 0) applied[o] = s as number;
      throw new LogGone(options.peer.id, applied);
    }
    return undefined;
  }
  const run: Change[] = [];
  for (const raw of changes) {
    const checked = parseChangeMessage(JSON.stringify(raw));
    if (!checked.ok || checked.value.origin !== origin) {
      options.onInvalid();
      break;
    }
    if (checked.value.seq !== after + 1 + run.length) break;
    run.push(checked.value);
  }
  return run;
}
