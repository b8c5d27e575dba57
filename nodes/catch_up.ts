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
import { Buffer } from 'node:buffer';

/** How long catch-up waits for a peer's log page before asking the next peer as well (hedged.ts). */
export const CATCH_UP_HEDGE_MS = 1000;

/** Changes asked for per log request. */
export const CATCH_UP_PAGE = 500;

/** Bytes of small files a log page carries at most (the rest of the page waits for the next request). */
export const LOG_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * A page of a log with the bytes of its small files carried along: changes
 * in order, up to the one whose bytes would take the page past `maxBytes`
 * (that one starts the next page). The first change always goes, with its
 * bytes only if they fit. Content is keyed by SHA-256, once per page. Pure.
 *
 * @example
 * carryBytes(changes, { bytesOf: (c) => index.blob(c.sha256), maxBytes: LOG_PAGE_BYTES })
 */
export function carryBytes(
  changes: Change[],
  options: { bytesOf: (change: Change) => Uint8Array | undefined; maxBytes: number },
): { changes: Change[]; bytes: Map<string, Uint8Array> } {
  const bytes = new Map<string, Uint8Array>();
  let total = 0;
  const out: Change[] = [];
  for (const c of changes) {
    const carried = !c.deleted && c.type === 'file' && !bytes.has(c.sha256) ? options.bytesOf(c) : undefined;
    if (carried && total + carried.byteLength > options.maxBytes) {
      // The page ends between seqs, never inside a seq given to two changes (readLog takes a seq whole).
      const whole = out.filter((o) => o.seq !== c.seq);
      if (whole.length > 0) {
        const kept = new Set(whole.map((o) => o.sha256));
        for (const sha of [...bytes.keys()]) if (!kept.has(sha)) bytes.delete(sha);
        return { changes: whole, bytes };
      }
      out.push(c); // alone (or its seq's first) and too big for a page: sent without its bytes
      continue;
    }
    if (carried) {
      bytes.set(c.sha256, carried);
      total += carried.byteLength;
    }
    out.push(c);
  }
  return { changes: out, bytes };
}

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
 * ends the run). Undefined when the peer did not answer (or `signal`
 * aborted the request); throws `LogGone`
 * when it pruned them (resync.ts repairs by digests instead).
 */
export async function readLog(
  gets: PeerGets,
  options: { peer: Member; origin: string; after: number; onInvalid: () => void; signal?: AbortSignal },
): Promise<{ run: Change[]; carried: Map<string, Uint8Array> } | undefined> {
  const { origin, after } = options;
  let changes: Change[];
  const carried = new Map<string, Uint8Array>();
  try {
    const res = await gets.get(options.peer, `/internal/log?origin=${origin}&after=${after}&limit=${CATCH_UP_PAGE}&bytes=${LOG_PAGE_BYTES}`, { signal: options.signal });
    const page = await readJson<{ changes: Change[]; bytes?: Record<string, string> }>(res);
    changes = page.changes;
    // Small files' bytes, checked against each change's SHA-256 before anything is committed (apply.ts).
    for (const [sha, b64] of Object.entries(page.bytes ?? {})) {
      if (/^[0-9a-f]{64}$/.test(sha) && typeof b64 === 'string') carried.set(sha, Buffer.from(b64, 'base64'));
    }
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
  let next = after + 1;
  for (const raw of changes) {
    const checked = parseChangeMessage(JSON.stringify(raw));
    if (!checked.ok || checked.value.origin !== origin) {
      options.onInvalid();
      break;
    }
    const { seq } = checked.value;
    // A seq given to two changes (an origin restored from a backup) is logged twice, one after the other.
    if (seq === next - 1 && run.length) {
      run.push(checked.value);
      continue;
    }
    if (seq !== next) break;
    run.push(checked.value);
    next++;
  }
  // A full page may end inside a seq given twice: that seq comes whole with the next page.
  if (changes.length >= CATCH_UP_PAGE && run.length === changes.length) {
    const last = run[run.length - 1].seq;
    const whole = run.filter((c) => c.seq !== last);
    if (whole.length) return { run: whole, carried };
  }
  return { run, carried };
}

/** A page of a log as readLog returns it. */
export type LogPage = Awaited<ReturnType<typeof readLog>>;

/** Changes in a page that make it worth asking for the next one before this one is applied. */
const PREFETCH_AFTER = 100;

/**
 * Reads peers' logs a page ahead: when a page of many changes arrives, the
 * next page (after its last seq, from the same peer) is asked for at once,
 * so the peer builds and sends it while this node applies the one in hand.
 * The next read of that origin takes it if it asks for exactly that page
 * (same peer, same `after`); otherwise it is dropped. At most one page ahead
 * per origin.
 */
export class LogReader {
  readonly #gets: PeerGets;
  readonly #ahead = new Map<string, { peer: string; after: number; page: Promise<LogPage> }>();

  constructor(gets: PeerGets) {
    this.#gets = gets;
  }

  async read(options: { peer: Member; origin: string; after: number; onInvalid: () => void; signal?: AbortSignal }): Promise<LogPage> {
    const held = this.#ahead.get(options.origin);
    this.#ahead.delete(options.origin);
    const page = await (held && held.peer === options.peer.id && held.after === options.after ? held.page : readLog(this.#gets, options));
    if (page && page.run.length >= PREFETCH_AFTER) {
      const after = page.run[page.run.length - 1].seq;
      const next = readLog(this.#gets, { ...options, after });
      next.catch(() => {}); // its failure is met by the read that takes it
      this.#ahead.set(options.origin, { peer: options.peer.id, after, page: next });
    }
    return page;
  }
}
