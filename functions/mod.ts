/**
 * The HTTP API of a node (DESIGN.md section 3), built from one sub-app per
 * concern. Web-standard Request/Response only: serve it with
 * `@hono/node-server`, `Deno.serve(app.fetch)`, or call `app.request()` in tests.
 */
import { Hono } from 'hono';
import { NuvemError } from '../protocol/errors.ts';
import { bearerCheck } from './auth.ts';
import { changesApp } from './changes.ts';
import { dashboardApp, isDashboardAsset } from './dashboard.ts';
import { deleteApp } from './delete.ts';
import type { Deps } from './deps.ts';
import { downloadApp, smallReads } from './download.ts';
import { onError } from './errors.ts';
import { fastPaths, type FastPaths } from './fast_paths.ts';
import { requestCounters, routeOf } from './request_counters.ts';
import { revisionsApp } from './listing.ts';
import { mkcolApp } from './mkcol.ts';
import { internalApp } from './internal.ts';
import { moveApp } from './move.ts';
import { statusApp } from './status.ts';
import { trashApp } from './trash.ts';
import { checkHost, checkRawTarget } from './target.ts';
import { uploadApp, uploader } from './upload.ts';

export type { DashboardAssets, DashboardFile, Deps, Replication } from './deps.ts';
export type { SmallAnswer } from './download.ts';
export type { FastAnswer, FastRead, FastWrite } from './fast_paths.ts';

export type NodeApp = Hono & FastPaths;

const FILE_METHODS = 'GET, HEAD, PUT, DELETE, MOVE, MKCOL';

/**
 * What needs no token: liveness, and the dashboard's page and static assets
 * (they hold no data; a browser cannot send a bearer token when it opens a
 * page, and the page reads the cluster from the broker with its read token).
 */
function isPublic(method: string, path: string): boolean {
  if (path === '/health') return true;
  return (method === 'GET' || method === 'HEAD') && (path === '/' || isDashboardAsset(path));
}

export function createApp(deps: Deps): NodeApp {
  const app = new Hono();
  const small = smallReads(deps);
  const requests = requestCounters(deps.metrics);
  app.use('*', async (c, next) => {
    requests.inflight++;
    try {
      await next();
    } finally {
      requests.inflight--;
      // A runtime that stamps the header itself spares every answer a Headers copy.
      if (!deps.stampsNodeHeader) c.res.headers.set('x-nuvem-node', deps.nodeId);
      requests.count(c.req.method, c.res.status, routeOf(c.req.path));
    }
  });
  const checkToken = deps.token === undefined ? undefined : bearerCheck([deps.token, ...(deps.nodeToken ? [deps.nodeToken] : [])]);
  const checkNode = deps.nodeToken === undefined ? undefined : bearerCheck(deps.nodeToken);
  app.use('*', async (c, next) => {
    if (deps.allowedHosts) checkHost(c.req.header('host'), deps.allowedHosts);
    checkRawTarget(deps.rawTarget?.(c));
    if (checkNode && c.req.path.startsWith('/internal/')) await checkNode(c.req.header('authorization'));
    else if (checkToken && !isPublic(c.req.method, c.req.path)) await checkToken(c.req.header('authorization'));
    await next();
  });
  const upload = uploader(deps);
  for (const sub of [(d: Deps) => uploadApp(d, upload), (d: Deps) => downloadApp(d, small), deleteApp, moveApp, mkcolApp, revisionsApp, trashApp, changesApp, statusApp, dashboardApp, internalApp]) {
    app.route('/', sub(deps));
  }
  app.all('/files/*', () => {
    throw new NuvemError('method_not_allowed', `Use one of ${FILE_METHODS} on /files/`, { allow: FILE_METHODS });
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError(onError(deps.log));
  const fast = fastPaths(deps, { small, upload, requests, hasToken: checkToken !== undefined });
  return Object.assign(app, fast);
}
