/**
 * The cluster as this node sees it, from status heartbeats. Pure: time is
 * passed in.
 *
 * Members come and go: one not seen online for the TTL (default 24 h) leaves
 * the list, and `forget` removes one sooner; either way it no longer holds
 * back tombstone purges or `w=all`. A member is seen online when one of its
 * online statuses arrives: as of now for a status just published, as of the
 * status's own time (`ts`, never later than now) for a retained one, which
 * the broker hands out again whenever this node subscribes, so a stale one
 * does not make a member younger, and one older than the TTL does not make
 * a stranger a member. A forgotten member comes back only with an online
 * status published after it was forgotten.
 */
import type { StatusMessage } from '../protocol/messages.ts';

export interface Member {
  id: string;
  url: string;
  /** Last status received (undefined for a peer only remembered from an earlier run). */
  status?: StatusMessage;
  receivedAt: number;
  /** When it was last seen online (its status's time, at most the time it arrived); 0 or absent: never. */
  seenAt?: number;
  /** Its URL answered /status with its id: only then does it count for write concern and serve catch-up. */
  verified: boolean;
}

/** A remembered peer: its URL and when it was last seen online (older data folders keep the URL only). */
export type Remembered = Record<string, string | { url: string; seen: number }>;

/** Members unseen for this long leave the list (`--member-ttl-ms`). */
export const DEFAULT_MEMBER_TTL_MS = 24 * 3600 * 1000;

export class Membership {
  readonly #members = new Map<string, Member>();
  /** Forgotten members, and when: their statuses from before then are ignored. */
  readonly #forgotten = new Map<string, number>();
  readonly selfId: string;
  readonly ttlMs: number;

  constructor(selfId: string, remembered: Remembered = {}, options: { ttlMs?: number; now?: number; forgotten?: Record<string, number> } = {}) {
    this.selfId = selfId;
    this.ttlMs = options.ttlMs ?? DEFAULT_MEMBER_TTL_MS;
    const now = options.now ?? Date.now();
    for (const [id, r] of Object.entries(remembered)) {
      if (id === selfId) continue;
      const { url, seen } = typeof r === 'string' ? { url: r, seen: now } : r;
      this.#members.set(id, { id, url, receivedAt: 0, seenAt: Math.min(seen, now), verified: false });
    }
    for (const [id, at] of Object.entries(options.forgotten ?? {})) this.#forgotten.set(id, at);
  }

  /**
   * Records a heartbeat (`retained`: handed out by the broker from its
   * retained messages); returns true when the member is new or its URL
   * changed (the list to remember changed).
   */
  update(status: StatusMessage, now: number, options: { retained?: boolean } = {}): boolean {
    if (status.id === this.selfId) return false;
    const retained = options.retained ?? false;
    const online = status.state === 'online';
    const at = retained ? Math.min(status.ts, now) : now;
    const forgottenAt = this.#forgotten.get(status.id);
    if (forgottenAt !== undefined && (retained ? status.ts <= forgottenAt : !online)) return false;
    const before = this.#members.get(status.id);
    // A stranger known only from a status older than the TTL is not a member.
    if (!before && retained && now - at > this.ttlMs) return false;
    this.#forgotten.delete(status.id);
    const changed = !before || before.url !== status.url;
    const seenAt = Math.max(before?.seenAt ?? 0, online || !before ? at : 0);
    this.#members.set(status.id, { id: status.id, url: status.url, status, receivedAt: now, seenAt, verified: !changed && before.verified });
    return changed;
  }

  /**
   * Removes the members not seen online for the TTL (a fresh heartbeat
   * always keeps one); returns their ids.
   */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const m of this.#members.values()) {
      if (!isOnline(m, now) && now - (m.seenAt ?? 0) > this.ttlMs) gone.push(m.id);
    }
    for (const id of gone) this.#members.delete(id);
    // Forgotten long enough ago, a member's old statuses are older than the TTL anyway.
    for (const [id, at] of this.#forgotten) if (now - at > 2 * this.ttlMs) this.#forgotten.delete(id);
    return gone;
  }

  /** Removes member `id` now (`nuvem members forget`); false when it is not a member. */
  forget(id: string, now: number): boolean {
    this.#forgotten.set(id, now);
    return this.#members.delete(id);
  }

  /** Forgotten members and when (to remember across restarts). */
  forgotten(): Record<string, number> {
    return Object.fromEntries(this.#forgotten);
  }

  /** Marks a member verified if it still has the URL that was checked. */
  verify(id: string, url: string): void {
    const m = this.#members.get(id);
    if (m && m.url === url) m.verified = true;
  }

  get(id: string): Member | undefined {
    return this.#members.get(id);
  }

  /** Every peer ever heard of (not this node). */
  known(): Member[] {
    return [...this.#members.values()];
  }

  /** Verified peers whose last heartbeat says online and is fresh (younger than 3 heartbeats). */
  online(now: number): Member[] {
    return this.known().filter((m) => m.verified && isOnline(m, now));
  }

  /** Is `url` one a member announced? Content is fetched only from those. */
  isMemberUrl(url: string): boolean {
    return this.known().some((m) => m.url === url);
  }

  /** id → url and last seen, to remember peers across restarts. */
  urls(): Record<string, { url: string; seen: number }> {
    return Object.fromEntries(this.known().map((m) => [m.id, { url: m.url, seen: m.seenAt ?? 0 }]));
  }
}

/** The longest heartbeat interval believed: a status cannot keep itself fresh for longer. */
export const MAX_HEARTBEAT_MS = 10_000;

export function isOnline(m: Member, now: number): boolean {
  return m.status?.state === 'online' && now - m.receivedAt < 3 * Math.min(m.status.heartbeatMs, MAX_HEARTBEAT_MS);
}

/**
 * Known changes this node has not applied: per origin, the highest seq any
 * peer reports (its own seq, or what it applied) beyond ours.
 */
export function lagOf(applied: Record<string, number>, peers: Member[]): number {
  const newest: Record<string, number> = {};
  for (const m of peers) {
    if (!m.status) continue;
    newest[m.id] = Math.max(newest[m.id] ?? 0, m.status.seq);
    for (const [origin, seq] of Object.entries(m.status.applied)) newest[origin] = Math.max(newest[origin] ?? 0, seq);
  }
  let lag = 0;
  for (const [origin, seq] of Object.entries(newest)) lag += Math.max(0, seq - (applied[origin] ?? 0));
  return lag;
}
