/** `GET /status`, `/health` and `/metrics`. */
import { Hono } from 'hono';
import type { Deps } from './deps.ts';

export function statusApp(deps: Deps): Hono {
  const app = new Hono();
  app.get('/status', (c) => c.json(deps.status()));
  app.get('/health', (c) => {
    const why = deps.unhealthy();
    if (why === undefined) return c.json({ status: 'ok', node: deps.nodeId });
    // An error answer like any other (DESIGN.md section 3: `error` and `message`), plus the status fields.
    return c.json({ error: 'unavailable', message: why, status: 'unavailable', node: deps.nodeId }, 503, { 'retry-after': '5' });
  });
  app.get('/metrics', (c) => c.text(deps.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  return app;
}
