/**
 * The HTTP API of a node (DESIGN.md section 3), built from one sub-app per
 * concern. Web-standard Request/Response only: serve it with
 * `@hono/node-server`, `Deno.serve(app.fetch)`, or call `app.request()` in tests.
 */
import { Hono } from 'hono';
import { NuvemError } from '../nodes/errors.ts';
import { bearerAuth } from './auth.ts';
import { changesApp } from './changes.ts';
import { dashboardApp } from './dashboard.ts';
import { deleteApp } from './delete.ts';
import type { Deps } from './deps.ts';
import { downloadApp } from './download.ts';
import { onError } from './errors.ts';
import { revisionsApp } from './listing.ts';
import { mkcolApp } from './mkcol.ts';
import { moveApp } from './move.ts';
import { statusApp } from './status.ts';
import { checkRawTarget } from './target.ts';
import { uploadApp } from './upload.ts';

export type { Deps, Replication } from './deps.ts';

const FILE_METHODS = 'GET, HEAD, PUT, DELETE, MOVE, MKCOL';

export function createApp(deps: Deps): Hono {
  const app = new Hono();
  const requests = deps.metrics.counter('nuvem_http_requests_total', 'HTTP requests answered, by method and status');
  let inflight = 0;
  deps.metrics.gauge('nuvem_http_inflight_requests', 'HTTP requests being handled', () => inflight);
  app.use('*', async (c, next) => {
    inflight++;
    try {
      await next();
    } finally {
      inflight--;
      c.res.headers.set('x-nuvem-node', deps.nodeId);
      requests({ method: c.req.method, code: String(c.res.status) });
    }
  });
  app.use('*', bearerAuth(deps.token, { open: ['/health'] }));
  app.use('*', async (c, next) => {
    checkRawTarget(deps.rawTarget?.(c));
    await next();
  });
  for (const sub of [uploadApp, downloadApp, deleteApp, moveApp, mkcolApp, revisionsApp, changesApp, statusApp, dashboardApp]) {
    app.route('/', sub(deps));
  }
  app.all('/files/*', () => {
    throw new NuvemError('method_not_allowed', `Use one of ${FILE_METHODS} on /files/`, { allow: FILE_METHODS });
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError(onError(deps.log));
  return app;
}
