/** Write-concern arithmetic (DESIGN.md section 3). Pure. */
import type { WriteConcern } from '../functions/headers.ts';

/**
 * How many nodes (this one included) must hold a change. `auto` asks for every
 * member that is online; `majority` and `all` count every known member.
 */
export function requiredAcks(w: WriteConcern, members: { known: number; online: number }): number {
  if (w === 'auto') return Math.max(1, members.online);
  if (w === 'all') return Math.max(1, members.known);
  if (w === 'majority') return Math.floor(Math.max(1, members.known) / 2) + 1;
  return w;
}

/** The ack timeout: 5 s plus 1 s per 64 MiB of content. */
export function ackTimeoutMs(bytes: number): number {
  return 5000 + Math.ceil(bytes / (64 * 1024 * 1024)) * 1000;
}
