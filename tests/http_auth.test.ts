/**
 * The bearer token: every route but /health refuses a missing or wrong one.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { put, current } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

const auth = suite('bearer token');
const TOKEN = 'correct horse battery staple';
let au: InProcessNode;
auth.before(async () => {
  au = await inProcessNode({ token: TOKEN });
  assert.is((await put(au, 'secret.txt', 'classified')).status, 201);
});
auth.after(() => au.close());

const ROUTES: [string, string, RequestInit?][] = [
  ['GET', '/files/secret.txt'],
  ['HEAD', '/files/secret.txt'],
  ['PUT', '/files/new.txt', { body: 'x' }],
  ['DELETE', '/files/new.txt'],
  ['MOVE', '/files/secret.txt', { headers: { destination: '/files/moved.txt' } }],
  ['MKCOL', '/files/folder'],
  ['GET', '/files/'],
  ['GET', '/revisions/secret.txt'],
  ['GET', '/changes'],
  ['GET', '/status'],
  ['GET', '/metrics'],
  ['POST', '/'],
  ['GET', '/dashboardx'],
  ['PATCH', '/files/secret.txt'],
  ['GET', '/no-such-route'],
];

auth('every route but /health and the dashboard\'s page is 401 JSON without the token or with a wrong one', async () => {
  for (const [method, target, init] of ROUTES) {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, `Basic ${btoa(`u:${TOKEN}`)}`, TOKEN]) {
      const headers = new Headers(init?.headers);
      headers.set('authorization', authorization ?? '');
      if (authorization === undefined) headers.delete('authorization');
      const res = await au.app.request(target, { ...init, method, headers });
      const label = `${method} ${target} with ${authorization ?? 'no Authorization'}`;
      assert.is(res.status, 401, label);
      assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
      if (method !== 'HEAD') assert.is((await res.json()).error, 'unauthorized', label);
    }
  }
  assert.equal((await current(au, 'secret.txt')).body, Buffer.from('classified'), 'nothing changed');
  assert.is((await current(au, 'new.txt')).status, 404);
  const health = await au.app.request('/health');
  assert.is(health.status, 200);
});

auth('with the right token every route works', async () => {
  const expected: Record<string, number> = {
    'GET /files/secret.txt': 200, 'HEAD /files/secret.txt': 200, 'PUT /files/new.txt': 201, 'GET /files/': 200,
    'GET /revisions/secret.txt': 200, 'GET /changes': 200, 'GET /status': 200, 'GET /metrics': 200, 'POST /': 404, 'GET /dashboardx': 404,
    'PATCH /files/secret.txt': 405, 'GET /no-such-route': 404, 'MKCOL /files/folder': 201,
    'MOVE /files/secret.txt': 201, 'DELETE /files/new.txt': 204,
  };
  for (const [method, target, init] of ROUTES) {
    const label = `${method} ${target}`;
    const res = await au.request(target, { ...init, method });
    assert.is(res.status, expected[label], label);
    await res.arrayBuffer();
  }
  assert.equal((await current(au, 'moved.txt')).body, Buffer.from('classified'));
});

auth('the dashboard\'s page and files need no token: they hold no data, and a browser cannot send one', async () => {
  for (const target of ['/', '/dashboard/app.js', '/dashboard/model.js', '/dashboard/style.css', '/dashboard/mqtt.esm.js', '/dashboard/config.json']) {
    const res = await au.app.request(target);
    assert.is(res.status, 200, target);
    await res.arrayBuffer();
  }
  const missing = await au.app.request('/dashboard/secret.txt');
  assert.is(missing.status, 404, 'only the dashboard\'s own files');
  for (const target of ['/status', '/files/secret.txt', '/dashboard/../files/secret.txt']) {
    assert.is((await au.app.request(target)).status, 401, target);
  }
});

auth.run();
