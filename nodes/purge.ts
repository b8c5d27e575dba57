/**
 * Which tombstones may be forgotten, and forgetting them. The planner is pure:
 * the applied vectors of the members come in, the tombstones to purge go out
 * (anti_entropy.ts runs it at the end of every pass); `purgeTombstones`
 * deletes them from the index (through `Store.purge`).
 *
 * A tombstone (origin O, seq s) is applied by member N iff N is O or
 * `N.applied[O] >= s` (the freshness rule). Once every known member (this
 * node included) has applied it, every member's record of the path ranks at
 * least as high as the tombstone, so no member can bring the deleted version
 * back — provided no member can still receive an older live version of the
 * path from some origin's log. Such a version (X, k) was written before its
 * origin X applied the tombstone, so X's own vector showed k as soon as it
 * showed the tombstone; the purge therefore also waits until every member
 * holds the frontier (everything any member had applied) of a snapshot in
 * which all held the tombstone: the current one, or the previous pass's when
 * writes keep coming. A member whose status is unknown blocks every purge.
 *
 * @example
 * const planner = new PurgePlanner();
 * planner.plan(tombstones, [{ id: 'a', applied: { a: 4, b: 2 } }, { id: 'b', applied: { a: 4, b: 2 } }]);
 */
import type { StoreContext } from './store_context.ts';
import { isOutOfTrash, type TrashClock } from './trash.ts';

export type Vector = Record<string, number>;

export interface Tombstone {
  path: string;
  origin: string;
  seq: number;
  version: string;
}

export interface MemberApplied {
  id: string;
  /** Its last known applied vector (its own seq included); undefined when no status is known. */
  applied?: Vector;
}

/** Does the member hold change (origin, seq)? Unknown status: no. */
export function holds(member: MemberApplied, origin: string, seq: number): boolean {
  if (!member.applied) return false;
  return member.id === origin || (member.applied[origin] ?? 0) >= seq;
}

/** The tombstones every member has applied (none when some member's status is unknown). */
export function appliedByAll<T extends Tombstone>(tombstones: Iterable<T>, members: MemberApplied[]): T[] {
  const out: T[] = [];
  if (members.some((m) => !m.applied)) return out;
  for (const t of tombstones) if (members.every((m) => holds(m, t.origin, t.seq))) out.push(t);
  return out;
}

/** Per origin, the highest seq any member has applied. */
export function frontier(members: MemberApplied[]): Vector {
  const f: Vector = {};
  for (const m of members) for (const [origin, seq] of Object.entries(m.applied ?? {})) f[origin] = Math.max(f[origin] ?? 0, seq);
  return f;
}

/** Does every member hold everything in `f`? */
export function reached(members: MemberApplied[], f: Vector): boolean {
  return Object.entries(f).every(([origin, seq]) => members.every((m) => holds(m, origin, seq)));
}

const sameIds = (a: MemberApplied[], b: MemberApplied[]) =>
  a.length === b.length && a.map((m) => m.id).sort().join('\n') === b.map((m) => m.id).sort().join('\n');

/** Decides, pass after pass, which tombstones are safe to purge; remembers the previous pass's vectors. */
export class PurgePlanner {
  #previous: MemberApplied[] | undefined;

  /** `members`: every known member with this node among them. */
  plan<T extends Tombstone>(tombstones: Iterable<T>, members: MemberApplied[]): T[] {
    const previous = this.#previous;
    const known = members.every((m) => m.applied);
    this.#previous = known ? members.map((m) => ({ id: m.id, applied: { ...m.applied } })) : undefined;
    if (!known) return [];
    if (reached(members, frontier(members))) return appliedByAll(tombstones, members);
    if (previous && sameIds(previous, members) && reached(members, frontier(previous))) return appliedByAll(tombstones, previous);
    return [];
  }
}

/** Tombstones purged per index commit (each holds its path's lock meanwhile). */
const PURGE_BATCH = 500;

/**
 * Forgets `tombstones` (the planner's choice) under their paths' locks, a few
 * hundred per commit, once they are out of the trash (trash.ts): a deleted
 * path stays restorable for the trash period, and its tombstone with it. A
 * path whose record is no longer that tombstone (written again since) keeps
 * its record. The purged paths' revisions go in the same commit (a path out
 * of the trash keeps none). Returns how many were purged.
 */
export async function purgeTombstones(
  ctx: StoreContext,
  tombstones: { path: string; version: string }[],
  options: { clock: () => TrashClock },
): Promise<number> {
  let purged = 0;
  for (let i = 0; i < tombstones.length; i += PURGE_BATCH) {
    const chunk = tombstones.slice(i, i + PURGE_BATCH);
    purged += await ctx.locks.withPaths(chunk.map((t) => t.path), async () => {
      const clock = options.clock();
      const still = chunk.filter((t) => {
        const e = ctx.index.get(t.path);
        return e?.deleted === true && e.version === t.version && isOutOfTrash(e, clock);
      });
      if (still.length) await ctx.commits.commit({ changes: [], put: [], revisions: [], purge: still, dropRevisions: still.map((t) => t.path) });
      return still.length;
    });
  }
  return purged;
}
