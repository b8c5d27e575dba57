/**
 * The cluster as this node sees it, from status heartbeats. Pure: time is
 * passed in.
 */
import type { StatusMessage } from '../protocol/messages.ts';

export interface Member {
  id: string;
  url: string;
  /** Last status received (undefined for a peer only remembered from an earlier run). */
  status?: StatusMessage;
  receivedAt: number;
  /** Its URL answered /status with its id: only then does it count for write concern and serve catch-up. */
  verified: boolean;
}

export class Membership {
  readonly #members = new Map<string, Member>();
  readonly selfId: string;

  constructor(selfId: string, remembered: Record<string, string> = {}) {
    this.selfId = selfId;
    for (const [id, url] of Object.entries(remembered)) if (id !== selfId) this.#members.set(id, { id, url, receivedAt: 0, verified: false });
  }

  /** Records a heartbeat; returns true when the member is new or its URL changed. */
  update(status: StatusMessage, now: number): boolean {
    if (status.id === this.selfId) return false;
    const before = this.#members.get(status.id);
    const changed = !before || before.url !== status.url;
    this.#members.set(status.id, { id: status.id, url: status.url, status, receivedAt: now, verified: !changed && before.verified });
    return changed;
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

  /** id → url, to remember peers across restarts. */
  urls(): Record<string, string> {
    return Object.fromEntries(this.known().map((m) => [m.id, m.url]));
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
