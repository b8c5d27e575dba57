// Content GETs from peers (nodes/peers.ts), against a real HTTP server:
// the body of a 200 arrives whole over kept-alive connections with the
// token, any other status rejects with that status, and a peer that stops
// sending fails the read instead of holding it forever.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PeerGets } from '../nodes/peers.ts';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';

async function server(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const connections = new Set<string>();
  const s = createServer((req, res) => {
    connections.add(`${req.socket.remotePort}`);
    handle(req, res);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    connections,
    close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }),
  };
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

test('a 200 body arrives whole, with the token, over one kept-alive connection', async () => {
  const content = randomBytesFrom(7, 3 * 65536 + 11);
  const auth: (string | undefined)[] = [];
  const peer = await server((req, res) => {
    auth.push(req.headers.authorization);
    res.writeHead(200, { 'content-length': content.length });
    res.end(content);
  });
  const gets = new PeerGets({ token: 't0ken' });
  try {
    for (let i = 0; i < 3; i++) assert.is(sha256(await drain(await gets.body(`${peer.url}/internal/content/x`))), sha256(content));
    assert.equal(auth, ['Bearer t0ken', 'Bearer t0ken', 'Bearer t0ken']);
    assert.is(peer.connections.size, 1);
  } finally {
    gets.close();
    await peer.close();
  }
});

test('any other status rejects with that status; the next GET still works', async () => {
  let status = 404;
  const peer = await server((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(status === 200 ? 'ok' : '{"error":"not_found"}');
  });
  const gets = new PeerGets();
  try {
    const err = await gets.body(`${peer.url}/internal/content/x`).catch((e) => e);
    assert.instance(err, Error);
    assert.is(err.status, 404);
    status = 200;
    assert.is(Buffer.from(await drain(await gets.body(`${peer.url}/internal/content/x`))).toString(), 'ok');
  } finally {
    gets.close();
    await peer.close();
  }
});

test('a peer that stops sending fails the read after idleMs, before or after the headers', async () => {
  const peer = await server((req, res) => {
    if (req.url === '/silent') return; // never answers
    res.writeHead(200, { 'content-length': 1000 });
    res.write(new Uint8Array(10)); // then nothing more
  });
  const gets = new PeerGets({ idleMs: 150 });
  try {
    const started = performance.now();
    const before = await gets.body(`${peer.url}/silent`).catch((e) => e);
    assert.instance(before, Error);
    assert.match(before.message, /no bytes for 150 ms/);
    const body = await gets.body(`${peer.url}/stalls`);
    const after = await drain(body).catch((e) => e);
    assert.instance(after, Error);
    assert.ok(performance.now() - started < 5000);
  } finally {
    gets.close();
    await peer.close();
  }
});

test.run();
