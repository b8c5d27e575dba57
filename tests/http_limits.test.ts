/**
 * Slow and hostile clients (nodes/http_node.ts limits): headers that never
 * finish and bodies that stall are cut off, and meanwhile other clients are
 * served; long-polls are capped (functions/changes.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type Socket } from 'node:net';
import { Hono } from 'hono';
import { changesApp } from '../functions/changes.ts';
import type { Deps } from '../functions/deps.ts';
import { onError } from '../functions/errors.ts';
import { rawRequest } from './_support/http.ts';
import { realNode } from './_support/real_node.ts';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.resume(); // read what the node answers (a 408), so its close is seen
    s.once('error', reject);
  });
}

test('2,000 slowloris sockets: a normal client still uploads, and the half-sent requests are closed after the headers timeout', async () => {
  const { node, close } = await realNode(undefined, { headersTimeoutMs: 1500 });
  const port = Number(new URL(node.url).port);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 2000; i++) {
      const s = await open(port);
      s.on('error', () => {});
      s.write(`PUT /files/slow-${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `);
      sockets.push(s);
    }
    const body = 'x'.repeat(10_000);
    const put = await rawRequest(node.url, { method: 'PUT', target: '/files/normal.txt', body, headers: { 'content-length': String(body.length) }, fresh: true });
    assert.is(put.status, 201);
    const get = await rawRequest(node.url, { target: '/files/normal.txt', fresh: true });
    assert.is(get.body.toString(), body);
    const deadline = Date.now() + 10_000;
    while (sockets.some((s) => !s.destroyed && !s.readableEnded) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const left = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
    assert.is(left, 0, `${left} half-sent requests still open`);
    const listing = await rawRequest(node.url, { target: '/files/', fresh: true });
    assert.equal(listing.json.entries.map((e: { path: string }) => e.path), ['normal.txt']);
  } finally {
    for (const s of sockets) s.destroy();
    await close();
  }
});

test('a body that stalls is cut off after the idle timeout and stores nothing', async () => {
  const { node, close } = await realNode(undefined, { idleTimeoutMs: 1000 });
  try {
    const s = await open(Number(new URL(node.url).port));
    s.on('error', () => {});
    const closed = new Promise<number>((r) => {
      const t0 = Date.now();
      s.once('close', () => r(Date.now() - t0));
    });
    s.write('PUT /files/stalled.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n' + 'y'.repeat(1000));
    const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 8000))]);
    assert.ok(ms >= 0, 'the stalled connection was not closed');
    assert.is((await rawRequest(node.url, { target: '/files/stalled.bin', fresh: true })).status, 404);
  } finally {
    await close();
  }
});

test('long-polls past the cap get 503 with Retry-After instead of a held connection', async () => {
  const store = {
    changes: () => ({ changes: [], cursor: 0 }),
    changesFloor: () => 0,
    changesEnd: () => 0,
    waitForChange: (_since: number, ms: number, signal?: AbortSignal) =>
      new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        signal?.addEventListener('abort', () => (clearTimeout(t), r()));
      }),
  };
  const deps = { store, maxLongPolls: 2, log: () => {} } as unknown as Deps;
  const app = new Hono();
  app.route('/', changesApp(deps));
  app.onError(onError(deps.log));
  const stop = new AbortController();
  const held = [app.request('/changes?wait=30', { signal: stop.signal }), app.request('/changes?wait=30', { signal: stop.signal })];
  await new Promise((r) => setTimeout(r, 20));
  const third = await app.request('/changes?wait=30');
  assert.is(third.status, 503);
  assert.is(third.headers.get('retry-after'), '1');
  assert.is((await third.json()).error, 'unavailable');
  const plain = await app.request('/changes'); // no wait: never refused
  assert.is(plain.status, 200);
  stop.abort();
  await Promise.all(held);
  assert.is((await app.request('/changes?wait=0.01')).status, 200);
});

test.run();
