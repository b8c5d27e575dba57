/**
 * `GET /`: the live dashboard (DESIGN.md section 6). The page, its script and
 * style (`functions/dashboard/`) and the MQTT.js browser build come in
 * through `deps.dashboard` (read from disk at start by the node), and the
 * page connects to the broker's WebSocket listener itself; this app only
 * serves files and `config.json`, which tells the page where the broker is.
 * Nothing here holds data, so it needs no token (functions/mod.ts).
 */
import { Hono } from 'hono';
import type { DashboardFile, Deps } from './deps.ts';

const PREFIX = '/dashboard/';

export function isDashboardAsset(path: string): boolean {
  return path.startsWith(PREFIX);
}

/**
 * Scripts and styles from this node only, no inline code, no frames. The
 * page opens WebSockets to the broker, whose host the page may adapt
 * (model.js `brokerUrlFor`), hence `ws:`/`wss:`; MQTT.js runs its keepalive
 * timer in a worker it makes from a blob.
 */
const SECURITY = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self' ws: wss:; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const MISSING = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nuvem</title></head>
<body><h1>Nuvem</h1><p>The dashboard's files were not found next to this node (functions/dashboard/ and node_modules/mqtt/dist/).
The node serves its API as usual; see /status.</p></body></html>`;

export function dashboardApp(deps: Deps): Hono {
  const app = new Hono();
  const assets = deps.dashboard;
  // no-cache: revalidated each time (304 when unchanged), so a node restarted with a new page serves it at once.
  const serve = (file: DashboardFile, ifNoneMatch: string | undefined) => {
    const headers = { ...SECURITY, 'content-type': file.type, 'cache-control': 'no-cache', etag: file.etag };
    if (ifNoneMatch === file.etag) return new Response(null, { status: 304, headers });
    return new Response(file.body as BodyInit, { status: 200, headers });
  };
  app.get('/', (c) => {
    const page = assets?.files.get('index.html');
    if (!page) return c.html(MISSING, 503, SECURITY);
    return serve(page, c.req.header('if-none-match'));
  });
  app.get(`${PREFIX}config.json`, (c) =>
    c.json({ node: deps.nodeId, brokerWs: assets?.brokerWs ?? null, prefix: assets?.prefix ?? 'nuvem' }, 200, { 'cache-control': 'no-store' }));
  app.get(`${PREFIX}:name`, (c) => {
    const file = assets?.files.get(c.req.param('name'));
    if (!file) return c.json({ error: 'not_found', message: `No dashboard file ${c.req.param('name')}` }, 404);
    return serve(file, c.req.header('if-none-match'));
  });
  return app;
}
