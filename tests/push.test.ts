// Streaming an upload to peers while it arrives (nodes/push.ts), against real
// HTTP servers: the upload's bytes pass through unchanged, every peer that
// takes them gets the same bytes, and a peer that refuses, fails or stops
// reading is dropped without holding the upload back for longer than stallMs.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pushing } from '../nodes/push.ts';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';
import { sleep } from './_support/sleep.ts';

interface Peer {
  url: string;
  /** What each request to it ended as: the SHA-256 of a whole body, or 'aborted'. */
  received: Promise<string>;
  headers: Promise<IncomingMessage['headers']>;
  close(): Promise<void>;
}

async function peer(handle?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Peer> {
  let received!: (s: string) => void;
  let headers!: (h: IncomingMessage['headers']) => void;
  const out = { received: new Promise<string>((r) => (received = r)), headers: new Promise<IncomingMessage['headers']>((r) => (headers = r)) };
  const server: Server = createServer((req, res) => {
    headers(req.headers);
    if (handle) return handle(req, res);
    const hash = createHash('sha256');
    req.on('data', (c) => hash.update(c));
    req.on('end', () => {
      received(hash.digest('hex'));
      res.end('{}');
    });
    req.on('aborted', () => received('aborted'));
    req.on('error', () => received('aborted'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ...out,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

async function* chunks(bytes: Uint8Array, size = 65536, failAt?: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    if (failAt !== undefined && at >= failAt) throw new Error('client went away');
    yield bytes.subarray(at, at + size);
  }
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of body) hash.update(c);
  return hash.digest('hex');
}

test('the upload passes through unchanged and every peer receives the same bytes, with origin and size', async () => {
  const a = await peer();
  const b = await peer();
  try {
    const body = randomBytesFrom(11, 5 * 1024 * 1024 + 123);
    const outcomes: string[] = [];
    const seen = await drain(pushing(chunks(body), body.length, [{ id: 'a', url: a.url }, { id: 'b', url: b.url }], {
      origin: 'node-1',
      token: 'sekrit',
      onOutcome: (p, o) => outcomes.push(`${p}:${o}`),
    }));
    assert.is(seen, sha256(body), 'the upload itself');
    assert.is(await a.received, sha256(body), 'peer a');
    assert.is(await b.received, sha256(body), 'peer b');
    const h = await a.headers;
    assert.is(h['x-nuvem-origin'], 'node-1');
    assert.is(h['x-nuvem-size'], String(body.length));
    assert.is(h['content-length'], String(body.length));
    assert.is(h.authorization, 'Bearer sekrit');
    for (let i = 0; i < 50 && outcomes.length < 2; i++) await sleep(10);
    assert.equal(outcomes.sort(), ['a:ok', 'b:ok']);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a peer that answers an error or cannot be reached is dropped; the upload and the other peer go on', async () => {
  const good = await peer();
  const refusing = await peer((req, res) => {
    res.statusCode = 503;
    res.end('{"error":"unavailable"}');
    req.resume();
  });
  try {
    const body = randomBytesFrom(12, 6 * 1024 * 1024);
    const outcomes: string[] = [];
    const seen = await drain(pushing(chunks(body), body.length, [
      { id: 'good', url: good.url },
      { id: 'refusing', url: refusing.url },
      { id: 'nobody', url: 'http://127.0.0.1:1' },
    ], { origin: 'node-1', onOutcome: (p, o) => outcomes.push(`${p}:${o}`) }));
    assert.is(seen, sha256(body));
    assert.is(await good.received, sha256(body));
    for (let i = 0; i < 100 && outcomes.length < 3; i++) await sleep(10);
    assert.equal(outcomes.sort(), ['good:ok', 'nobody:failed', 'refusing:failed']);
  } finally {
    await good.close();
    await refusing.close();
  }
});

test('a peer that stops reading holds the upload back no longer than stallMs', async () => {
  const good = await peer();
  const stuck = await peer((req) => req.pause()); // reads nothing, answers nothing
  try {
    const body = randomBytesFrom(13, 32 * 1024 * 1024); // far more than the socket buffers hold
    const outcomes: string[] = [];
    const started = Date.now();
    const seen = await drain(pushing(chunks(body), body.length, [{ id: 'good', url: good.url }, { id: 'stuck', url: stuck.url }], {
      origin: 'node-1',
      stallMs: 300,
      onOutcome: (p, o) => outcomes.push(`${p}:${o}`),
    }));
    const took = Date.now() - started;
    assert.is(seen, sha256(body));
    assert.is(await good.received, sha256(body));
    assert.ok(outcomes.includes('stuck:failed'), `outcomes: ${outcomes}`);
    assert.ok(took >= 300 && took < 5000, `the upload waited ${took} ms for the stuck peer`);
  } finally {
    await good.close();
    await stuck.close();
  }
});

test('an upload that does not complete aborts the pushes, so peers keep nothing', async () => {
  const a = await peer();
  try {
    const body = randomBytesFrom(14, 4 * 1024 * 1024);
    const err = await drain(pushing(chunks(body, 65536, 2 * 1024 * 1024), body.length, [{ id: 'a', url: a.url }], { origin: 'node-1' })).catch((e) => e);
    assert.instance(err, Error);
    assert.is(err.message, 'client went away');
    assert.is(await a.received, 'aborted');
  } finally {
    await a.close();
  }
});

test('nothing is pushed before the upload is read (a refused request sends nothing)', async () => {
  let requests = 0;
  const a = await peer((req, res) => {
    requests++;
    req.resume();
    res.end();
  });
  try {
    pushing(chunks(new Uint8Array(10)), 10, [{ id: 'a', url: a.url }], { origin: 'node-1' });
    await sleep(100);
    assert.is(requests, 0);
  } finally {
    await a.close();
  }
});

test.run();
