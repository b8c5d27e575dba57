/**
 * The cluster's member list as a node sees it (`GET /members`), and
 * forgetting a member that is gone for good (`DELETE /members/{id}`): the
 * node that answers forgets it at once and tells the others through the
 * broker (`nuvem members`, `nuvem members forget ID`).
 */
import { call, readJson, servedBy, type ClientContext } from './context.ts';

export interface MemberView {
  id: string;
  url: string;
  state: string;
  /** When the member was last seen online (ms since the epoch; 0: never). */
  seenAt: number;
  heartbeatAgeMs: number | null;
  verified: boolean;
}

export interface Members {
  /** The members as one node sees them (`node`: which one answered). */
  members(options?: { signal?: AbortSignal }): Promise<{ node: string; members: MemberView[] }>;
  /** Makes a node forget member `id` now and tell the others; refused (409) while that member is online. */
  forgetMember(id: string, options?: { signal?: AbortSignal }): Promise<{ node: string; forgotten: string; wasMember: boolean }>;
}

export function createMembers(ctx: ClientContext): Members {
  return {
    async members(options = {}) {
      const sent = await call(ctx, { method: 'GET', target: '/members', headers: {} }, { policy: 'read', path: '/members', signal: options.signal });
      const body = (await readJson(sent, 'the member list')) as { members: MemberView[] };
      return { node: servedBy(sent), members: body.members };
    },
    async forgetMember(id, options = {}) {
      const target = `/members/${encodeURIComponent(id)}`;
      const sent = await call(ctx, { method: 'DELETE', target, headers: {} }, { policy: 'change', path: target, signal: options.signal });
      const body = (await readJson(sent, 'the answer')) as { forgotten: string; wasMember: boolean };
      return { node: servedBy(sent), forgotten: body.forgotten, wasMember: body.wasMember };
    },
  };
}
