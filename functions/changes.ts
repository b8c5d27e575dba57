/**
 * `GET /changes?since=&limit=&wait=`: this node's change feed, with long-poll.
 * `since` absent or empty starts at the oldest change kept; `since=now` at
 * the newest (nothing but a cursor, or what comes during `wait`). The log is
 * pruned (nodes/log_prune.ts): a cursor below what was pruned answers
 * `410 gone` with `cursor`, the newest cursor at that moment; the reader
 * lists the files again, then follows from that cursor, so it misses nothing.
 */
import { Hono } from 'hono';
import { NuvemError } from '../protocol/errors.ts';
import type { Deps } from './deps.ts';
import { clampInt } from './headers.ts';

export const MAX_WAIT_SECONDS = 60;
/** Long-polls waiting at once; past it a poll gets 503 and Retry-After, not a held connection. */
export const MAX_LONG_POLLS = 1000;

export function changesApp(deps: Deps): Hono {
  const app = new Hono();
  let waiting = 0;
  app.get('/changes', async (c) => {
    const sinceParam = c.req.query('since') ?? '';
    if (!/^\d{0,15}$/.test(sinceParam) && sinceParam !== 'now') {
      throw new NuvemError('bad_request', `Cannot use since="${sinceParam.slice(0, 40)}": expected a cursor from an earlier answer, or "now"`);
    }
    const since = sinceParam === 'now' ? deps.store.changesEnd() : sinceParam === '' ? deps.store.changesFloor() : Number(sinceParam);
    const checkKept = () => {
      const floor = deps.store.changesFloor();
      if (since >= floor) return;
      throw new NuvemError('gone', `The changes after cursor ${since} were pruned from this node's log; list the files again, then follow the changes from "cursor"`, {
        cursor: String(deps.store.changesEnd()),
        floor: String(floor),
      });
    };
    checkKept();
    const limit = clampInt(c.req.query('limit'), { min: 1, max: 1000, fallback: 1000 });
    const waitParam = c.req.query('wait');
    const wait = waitParam === undefined ? 0 : Number(waitParam);
    if (!Number.isFinite(wait) || wait < 0) {
      throw new NuvemError('bad_request', `Cannot use wait="${String(waitParam).slice(0, 40)}": expected seconds (0 to ${MAX_WAIT_SECONDS})`);
    }
    if (wait > 0) {
      const full = waiting >= (deps.maxLongPolls ?? MAX_LONG_POLLS);
      if (full && deps.store.changes(since, 1).changes.length === 0) {
        throw new NuvemError('unavailable', `${waiting} long-polls are waiting on this node already; poll again shortly`, { retryAfter: 1 });
      }
      waiting++;
      try {
        await deps.store.waitForChange(since, Math.min(wait, MAX_WAIT_SECONDS) * 1000, c.req.raw.signal);
      } finally {
        waiting--;
      }
    }
    checkKept(); // pruned while waiting?
    const { changes, cursor } = deps.store.changes(since, limit);
    return c.json({ changes, cursor: String(cursor) });
  });
  return app;
}
