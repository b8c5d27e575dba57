/**
 * DESIGN.md section 7.6: without a token, a web page on another site cannot
 * drive a local cluster. Nodes refuse a `Host` that is neither loopback nor
 * their public URL's (DNS rebinding), on the app and on the runtime's fast
 * paths alike; the broker's WebSocket listener refuses foreign `Origin`s.
 * Also: absolute-form request targets get the dot-segment check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startBroker } from '../broker/mod.ts';
import { rawRequest } from './_support/http.ts';
import { realNode } from './_support/real_node.ts';

test('a node without a token refuses a foreign Host on every path, fast or not, and stores nothing', async () => {
  const { node, close } = await realNode();
  try {
    const put = await rawRequest(node.url, { method: 'PUT', target: '/files/a.txt', body: 'hello', headers: { 'content-length': '5' } });
    assert.is(put.status, 201);
    const evil = { host: 'evil.example:7001' };
    const cases: { method: string; target: string; body?: string }[] = [
      { method: 'GET', target: '/files/a.txt' }, // the fast read path (a cached small file)
      { method: 'PUT', target: '/files/b.txt', body: 'x' }, // the fast write path
      { method: 'PUT', target: '/files/c.txt?w=1', body: 'x' },
      { method: 'GET', target: '/files/' },
      { method: 'DELETE', target: '/files/a.txt' },
      { method: 'GET', target: '/status' },
    ];
    for (const c of cases) {
      const res = await rawRequest(node.url, { ...c, headers: { ...evil, ...(c.body ? { 'content-length': String(c.body.length) } : {}) } });
      assert.is(res.status, 403, `${c.method} ${c.target}`);
      assert.is(res.json?.error, 'forbidden');
      assert.match(res.json?.message, /evil\.example/);
    }
    for (const host of [`127.0.0.1:${new URL(node.url).port}`, `localhost:${new URL(node.url).port}`]) {
      const res = await rawRequest(node.url, { target: '/files/a.txt', headers: { host } });
      assert.is(res.status, 200, host);
      assert.is(res.body.toString(), 'hello');
    }
    const listing = await rawRequest(node.url, { target: '/files/' });
    assert.equal(listing.json.entries.map((e: { path: string }) => e.path), ['a.txt']);
  } finally {
    await close();
  }
});

test('with a token the Host is not checked: the token decides', async () => {
  const { node, close } = await realNode('s3cret');
  try {
    const res = await rawRequest(node.url, { target: '/files/', headers: { host: 'nuvem.example:7001', authorization: 'Bearer s3cret' } });
    assert.is(res.status, 200);
    const denied = await rawRequest(node.url, { target: '/files/', headers: { host: 'nuvem.example:7001' } });
    assert.is(denied.status, 401);
  } finally {
    await close();
  }
});

test('absolute-form targets get the dot-segment check (never stored at the collapsed path)', async () => {
  const { node, close } = await realNode();
  try {
    const port = new URL(node.url).port;
    for (const target of [`http://127.0.0.1:${port}/files/a/../b`, `http://127.0.0.1:${port}/files/a/%2e%2e/b`, `http://127.0.0.1:${port}/files/./b`]) {
      const res = await rawRequest(node.url, { method: 'PUT', target, body: 'x', headers: { 'content-length': '1' } });
      assert.is(res.status, 400, target);
      assert.is(res.json?.error, 'invalid_path');
    }
    assert.is((await rawRequest(node.url, { target: '/files/b' })).status, 404);
    const ok = await rawRequest(node.url, { method: 'PUT', target: `http://127.0.0.1:${port}/files/c`, body: 'y', headers: { 'content-length': '1' } });
    assert.is(ok.status, 201);
    assert.is((await rawRequest(node.url, { target: '/files/c' })).body.toString(), 'y');
  } finally {
    await close();
  }
});

/** Opens a WebSocket to the broker with `origin`; resolves with the HTTP status of a refusal, or 101 when it opened. */
function wsStatus(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mqtt', origin ? { origin } : {});
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', (err) => reject(err));
  });
}

test('the broker WebSocket refuses pages from other origins without a token', async () => {
  const broker = await startBroker({ port: 0, wsPort: 0 });
  try {
    assert.is(await wsStatus(broker.wsUrl!, 'http://evil.example'), 403);
    assert.is(await wsStatus(broker.wsUrl!, 'null'), 403);
    assert.is(await wsStatus(broker.wsUrl!, 'http://127.0.0.1:7001'), 101);
    assert.is(await wsStatus(broker.wsUrl!, 'http://localhost:7001'), 101);
    assert.is(await wsStatus(broker.wsUrl!), 101);
  } finally {
    await broker.close();
  }
  const withToken = await startBroker({ port: 0, wsPort: 0, token: 't' });
  try {
    assert.is(await wsStatus(withToken.wsUrl!, 'http://evil.example'), 101); // credentials decide, at MQTT CONNECT
  } finally {
    await withToken.close();
  }
});

test.run();
