/**
 * Peers that keep failing, as one node sees them: shared by catch-up (which
 * asks a cooling peer last) and anti-entropy (which skips it for the pass).
 * After the n-th failure in a row a peer cools for 2^(n-1) × `baseMs`
 * (2 s, 4 s, 8 s, …), at most `maxMs` (5 min). An answer clears it, and so
 * does a heartbeat showing the peer back (online after being offline or
 * stale, or restarted): replicator.ts calls `clear`. Pure: time is passed in.
 *
 * @example
 * const backoff = new PeerBackoff({ now: Date.now });
 * backoff.failed('node-2');
 * backoff.cooling('node-2'); // true for the next 2 s
 * backoff.order(peers);      // node-2 last
 */
export class PeerBackoff {
  readonly #now: () => number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #peers = new Map<string, { failures: number; until: number }>();

  constructor(options: { now: () => number; baseMs?: number; maxMs?: number }) {
    this.#now = options.now;
    this.#baseMs = options.baseMs ?? 2000;
    this.#maxMs = options.maxMs ?? 300_000;
  }

  /** A request to `id` failed (no connection, no answer in time, an error status). */
  failed(id: string): void {
    const failures = (this.#peers.get(id)?.failures ?? 0) + 1;
    const ms = Math.min(this.#baseMs * 2 ** Math.min(failures - 1, 30), this.#maxMs);
    this.#peers.set(id, { failures, until: this.#now() + ms });
  }

  /** `id` answered: it is asked in its rank again. */
  succeeded(id: string): void {
    this.#peers.delete(id);
  }

  /** A heartbeat shows `id` back: forget its failures. */
  clear(id: string): void {
    this.#peers.delete(id);
  }

  /** Is `id` cooling after failures (ask it last, or not this time)? */
  cooling(id: string): boolean {
    const p = this.#peers.get(id);
    return p !== undefined && this.#now() < p.until;
  }

  /** Failures in a row so far (0: none). */
  failures(id: string): number {
    return this.#peers.get(id)?.failures ?? 0;
  }

  /** `peers` in their order, those cooling moved to the end (in their order too). */
  order<P extends { id: string }>(peers: P[]): P[] {
    return [...peers.filter((p) => !this.cooling(p.id)), ...peers.filter((p) => this.cooling(p.id))];
  }
}
