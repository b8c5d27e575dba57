/**
 * Write concern: the acks peers publish for this node's changes, and the
 * writes waiting for enough of them (`?w=`). `auto` waits for every online
 * peer, never for nodes that are down; a number, `majority` or `all` counts
 * nodes (write_concern.ts). Past the ack timeout the wait fails with the
 * nodes that hold the change; the change stays.
 */
import { NuvemError } from '../protocol/errors.ts';
import type { Membership } from './membership.ts';
import type { FileRecord } from '../protocol/record.ts';
import { ackTimeoutMs, requiredAcks, type WriteConcern } from '../protocol/write_concern.ts';

/** setTimeout and clearTimeout, passed in where tests control time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/** Acks kept: the newest 10,000 seqs. */
const KEEP_ACKS = 10_000;
/** A wait looks again at least this often (membership moves without acks). */
const POLL_MS = 250;

export class AckWaits {
  readonly #id: string;
  readonly #membership: Membership;
  readonly #now: () => number;
  readonly #timers: Timers;
  /** Acks received for this node's changes: seq → nodes. */
  readonly #acks = new Map<number, Set<string>>();
  readonly #waiters = new Set<() => void>();
  /**
   * The waits under way: their seqs and, per node, which of them it acked,
   * kept up to date by `add`, so that a wait for a folder move of 50,000
   * changes costs O(1) per ack, not a look at every seq (and holds acks
   * older than the newest KEEP_ACKS too).
   */
  readonly #counting = new Set<{ seqs: Set<number>; acked: Map<string, Set<number>> }>();

  constructor(options: { nodeId: string; membership: Membership; now?: () => number; timers?: Timers }) {
    this.#id = options.nodeId;
    this.#membership = options.membership;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? realTimers;
  }

  /** `node` holds this node's change `seq` (an ack checked against the log). */
  add(seq: number, node: string): void {
    let set = this.#acks.get(seq);
    if (!set) this.#acks.set(seq, (set = new Set()));
    set.add(node);
    for (const c of this.#counting) if (c.seqs.has(seq)) ackedBy(c.acked, node).add(seq);
    this.#trim();
    this.wake();
  }

  /** Makes the waits look again (an ack came, or the membership changed). */
  wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Waits until `records` (this node's changes) are held by as many nodes as `w` asks. */
  async wait(records: FileRecord[], w: WriteConcern): Promise<string[]> {
    const membership = this.#membership;
    const seqs = new Set(records.filter((r) => r.origin === this.#id).map((r) => r.seq));
    if (typeof w === 'number' && w > membership.known().length + 1) {
      throw new NuvemError('write_concern', `w=${w} asks for more nodes than the ${membership.known().length + 1} this node knows; the change is stored and stays`, {
        replicas: [this.#id],
      });
    }
    const bytes = records.reduce((sum, r) => sum + r.size, 0);
    const deadline = this.#now() + ackTimeoutMs(bytes);
    const counting = { seqs, acked: new Map<string, Set<number>>() };
    for (const seq of seqs) for (const node of this.#acks.get(seq) ?? []) ackedBy(counting.acked, node).add(seq);
    this.#counting.add(counting);
    const holders = () => {
      const all = membership.known().map((m) => m.id).filter((id) => (counting.acked.get(id)?.size ?? 0) === seqs.size);
      return [this.#id, ...all];
    };
    try {
      return await this.#waitFor({ w, deadline, holders });
    } finally {
      this.#counting.delete(counting);
    }
  }

  async #waitFor(options: { w: WriteConcern; deadline: number; holders: () => string[] }): Promise<string[]> {
    const { w, deadline, holders } = options;
    const membership = this.#membership;
    const met = () => {
      const now = this.#now();
      const online = membership.online(now);
      const need = requiredAcks(w, { known: membership.known().length + 1, online: online.length + 1 });
      const have = holders();
      if (w === 'auto') return online.every((m) => have.includes(m.id));
      return have.length >= need;
    };
    while (!met()) {
      const left = deadline - this.#now();
      if (left <= 0) {
        throw new NuvemError('write_concern', `The change is stored on ${holders().length} node(s), fewer than w=${w} asked for within the ack timeout; it stays and keeps replicating`, {
          replicas: holders(),
        });
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#timers.clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = this.#timers.setTimeout(done, Math.min(left, POLL_MS));
        this.#waiters.add(done);
      });
    }
    return holders();
  }

  /** Drops the acks of the seqs first acked, past KEEP_ACKS (seqs are acked about in order: no sort per ack). */
  #trim(): void {
    for (const seq of this.#acks.keys()) {
      if (this.#acks.size <= KEEP_ACKS) return;
      this.#acks.delete(seq);
    }
  }
}

/** The seqs `node` acked, in a wait's count. */
function ackedBy(acked: Map<string, Set<number>>, node: string): Set<number> {
  let set = acked.get(node);
  if (!set) acked.set(node, (set = new Set()));
  return set;
}
