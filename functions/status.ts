/**
 * `GET /status`, `/health` and `/metrics`; the member list, `GET /members`,
 * and `DELETE /members/{id}` (`nuvem members forget ID`), which makes this
 * node forget a member now and tell the others.
 */
import { Hono } from 'hono';
import type { Deps } from './deps.ts';
import { NuvemError } from '../protocol/errors.ts';
import { NODE_ID } from '../protocol/version.ts';

export function statusApp(deps: Deps): Hono {
  const app = new Hono();
  app.get('/status', (c) => c.json(deps.status()));
  app.get('/health', (c) => {
    const why = deps.unhealthy();
    if (why === undefined) return c.json({ status: 'ok', node: deps.nodeId });
    // An error answer like any other (DESIGN.md section 3: `error` and `message`), plus the status fields.
    return c.json({ error: 'unavailable', message: why, status: 'unavailable', node: deps.nodeId }, 503, { 'retry-after': '5' });
  });
  app.get('/members', (c) => c.json({ node: deps.nodeId, members: members(deps).members() }));
  app.delete('/members/:id', (c) => {
    const id = c.req.param('id');
    if (!NODE_ID.test(id)) throw new NuvemError('bad_request', `Cannot forget "${id.slice(0, 80)}": not a node id`);
    return c.json({ node: deps.nodeId, ...members(deps).forgetMember(id) });
  });
  app.get('/metrics', (c) => c.text(deps.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  return app;
}

function members(deps: Deps): NonNullable<Deps['members']> {
  if (!deps.members) throw new NuvemError('not_found', 'This node keeps no member list');
  return deps.members;
}
