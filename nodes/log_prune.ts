/**
 * Pruning the change log. The log (index `log` table) serves two readers:
 * peers catching up (`/internal/log?origin=&after=`) and `/changes` readers.
 * An entry (O, s) may go once every member holds it (the freshness rule,
 * as for tombstones: purge.ts), since no member will ask for it again; and
 * the newest `keep` entries always stay, so a `/changes` reader that falls
 * behind by less than that resumes from its cursor. Entries go in log order
 * (by id), so the pruned part is a prefix: ids up to the floor. A reader
 * below it gets 410 Gone (functions/changes.ts, functions/internal.ts); a
 * peer then repairs by digests instead (resync.ts).
 *
 * @example
 * logCutoff({ lastId: 100, floor: 0, keep: 10, members: [{ id: 'a', applied: { a: 5 } }], firstUnheld: () => undefined }) // 90
 */
import type { MemberApplied } from './purge.ts';

/**
 * The highest log id that may be pruned: below the first entry some member
 * does not hold, and below the newest `keep`. `floor` when nothing more may
 * go (a member's status unknown, or nothing held by all).
 */
export function logCutoff(options: {
  lastId: number;
  floor: number;
  keep: number;
  members: MemberApplied[];
  origins: string[];
  /** The id of the first entry of `origin` after `seq`, if any. */
  firstUnheld: (origin: string, seq: number) => number | undefined;
}): number {
  const { members } = options;
  if (members.some((m) => !m.applied)) return options.floor;
  let cutoff = options.lastId - Math.max(1, options.keep);
  for (const origin of options.origins) {
    const held = Math.min(...members.map((m) => (m.id === origin ? Infinity : m.applied![origin] ?? 0)));
    const first = options.firstUnheld(origin, held);
    if (first !== undefined) cutoff = Math.min(cutoff, first - 1);
  }
  return Math.max(cutoff, options.floor);
}

/** Entries deleted per transaction. */
const PRUNE_BATCH = 10_000;

/**
 * Prunes the log of `index` up to the cutoff (`lastId`: the last durable
 * entry), a batch per transaction, yielding between batches. Returns how
 * many entries went.
 */
export async function pruneLog(
  index: {
    logOrigins(): string[];
    firstLogIdAfter(origin: string, seq: number): number | undefined;
    logFloor(): number;
    pruneLog(id: number): number;
  },
  options: { lastId: number; keep: number; members: MemberApplied[] },
): Promise<number> {
  const floor = index.logFloor();
  const cutoff = logCutoff({
    ...options,
    floor,
    origins: index.logOrigins(),
    firstUnheld: (origin, seq) => index.firstLogIdAfter(origin, seq),
  });
  let pruned = 0;
  for (let upTo = floor; upTo < cutoff;) {
    upTo = Math.min(cutoff, upTo + PRUNE_BATCH);
    pruned += index.pruneLog(upTo);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return pruned;
}
