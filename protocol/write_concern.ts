/** Write concern (DESIGN.md section 3): the `w=` parameter and its arithmetic. Pure. */
import { NuvemError } from './errors.ts';

export type WriteConcern = 'auto' | 'majority' | 'all' | number;

export function parseWriteConcern(value: string | undefined): WriteConcern {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'majority' || value === 'all') return value;
  if (/^[1-9][0-9]{0,3}$/.test(value)) return Number(value);
  throw new NuvemError('bad_request', `Cannot use w="${value.slice(0, 40)}": expected auto, majority, all or a count of nodes from 1`);
}

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
