/**
 * Failover in the client library against scripted nodes (an injected
 * `fetch`): next candidate on refusal, 5xx or timeout; downloads resuming
 * with Range/If-Range at another node holding the same version, verified
 * whole; uploads sent again elsewhere; `write_concern` never sent again;
 * read-your-writes through `min_version`. Real nodes: failover.test.ts.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, DigestMismatchError, NoNodeAvailableError, NuvemHttpError, type FailoverInfo, type NuvemClient } from '../client/mod.ts';
import { sleep } from './_support/sleep.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const digestHeader = (b: Uint8Array) => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;
const VERSION = '0192f3a4b5c6-0000-n1';

type Handler = (req: { url: URL; method: string; headers: Headers; body: Uint8Array; signal?: AbortSignal }) => Response | Promise<Response>;

interface FakeNode {
  id: string;
  url: string;
  /** Answers `/files/…` (and anything but `/status`). */
  handle?: Handler;
  down?: boolean;
  /** Added to every answer, so the client's latency ranking is known in advance. */
  delayMs?: number;
  applied?: Record<string, number>;
  seen: { method: string; target: string; headers: Headers }[];
}

/** A fetch over scripted nodes; `/status` answers from the node's fields, `/health` (latency probes) with ok. */
function fakeCluster(nodes: FakeNode[]) {
  const fetchFn = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input);
    const node = nodes.find((n) => url.origin === new URL(n.url).origin)!;
    if (node.down) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    if (node.delayMs) await sleep(node.delayMs);
    const headers = new Headers(init.headers);
    if (url.pathname === '/status') {
      return Response.json({
        id: node.id, url: node.url, state: 'online', ts: Date.now(), startedAt: 1, heartbeatMs: 1000, seq: 0,
        applied: node.applied ?? {}, lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 2 }, inflight: 0, version: 't',
      });
    }
    if (url.pathname === '/health') return Response.json({ status: 'ok', node: node.id });
    node.seen.push({ method: init.method ?? 'GET', target: url.pathname + url.search, headers });
    let body = new Uint8Array();
    if (init.body instanceof ReadableStream) body = new Uint8Array(await new Response(init.body).arrayBuffer());
    else if (init.body !== undefined && init.body !== null) body = new Uint8Array(await new Response(init.body as BodyInit).arrayBuffer());
    const res = await node.handle!({ url, method: init.method ?? 'GET', headers, body, signal: init.signal ?? undefined });
    const out = new Headers(res.headers);
    out.set('x-nuvem-node', node.id);
    return new Response(res.body, { status: res.status, headers: out });
  };
  return fetchFn;
}

/** Nodes answer 40 ms apart in the order made (a first), so the client prefers them in that order. */
let made = 0;
const fake = (id: string, over: Partial<FakeNode> = {}): FakeNode => ({ id, url: `http://${id}.test:7001`, seen: [], delayMs: 40 * (made++ % 3), ...over });
const fresh = () => void (made = 0);

/** A body that sends `bytes`, then breaks (`'break'`) or hangs until aborted (`'stall'`). */
function brokenBody(bytes: Uint8Array, how: 'break' | 'stall', signal?: AbortSignal): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(bytes);
        return;
      }
      if (how === 'break') return controller.error(new TypeError('terminated', { cause: new Error('other side closed') }));
      return new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
    },
  });
}

/** Serves `content` at VERSION honouring `?version`, `Range` and `If-Range`, like a node. */
function serving(content: Uint8Array, options: { version?: string; ignoreRange?: boolean } = {}): (req: Parameters<Handler>[0]) => Response {
  const version = options.version ?? VERSION;
  return ({ url, headers }) => {
    const wanted = url.searchParams.get('version');
    if (wanted && wanted !== version) return Response.json({ error: 'not_found', message: 'no such version' }, { status: 404 });
    const common = { etag: `"${version}"`, 'x-nuvem-origin': 'n1', 'x-nuvem-seq': '3' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(headers.get('range') ?? '');
    if (range && !options.ignoreRange) {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : content.length - 1;
      return new Response(content.slice(start, end + 1) as BodyInit, {
        status: 206, headers: { ...common, 'content-range': `bytes ${start}-${end}/${content.length}`, 'content-length': String(end + 1 - start) },
      });
    }
    return new Response(content as BodyInit, { headers: { ...common, 'content-length': String(content.length), 'content-digest': digestHeader(content) } });
  };
}

/** Waits until the client has measured every node that answers (its background probes), so its ranking is by latency. */
async function measured(client: NuvemClient): Promise<NuvemClient> {
  for (let i = 0; i < 200; i++) {
    const nodes = await client.nodes();
    if (nodes.every((n) => n.state !== 'online' || n.latencyMs !== undefined)) return client;
    await sleep(10);
  }
  throw new Error('the client never measured the nodes');
}

const content = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);

// The first request of the process pays for lazy set-up; keep that out of the latency ranking.
await fakeCluster([fake('warm', { handle: serving(content), delayMs: 0 })])('http://warm.test:7001/files/x');

// ---

test('a refused connection moves the request to the next node; -v style hooks see both', async () => {
  fresh();
  const a = fake('a', { down: false, handle: serving(content) });
  const b = fake('b', { handle: serving(content) });
  const fetchFn = fakeCluster([a, b]);
  const failovers: FailoverInfo[] = [];
  const served: string[] = [];
  const client = await measured(createClient({
    nodes: [a.url, b.url], fetch: fetchFn, onFailover: (f) => failovers.push(f), onResponse: (r) => served.push(`${r.status} ${r.nodeId}`),
  }));
  a.down = true;
  const res = await client.get('x.bin');
  assert.is(sha256(new Uint8Array(await res.arrayBuffer())), sha256(content));
  assert.equal(failovers.map((f) => f.nodeId), ['a']);
  assert.match(failovers[0].reason, /ECONNREFUSED/);
  assert.equal(served, ['200 b']);
  await client.close();
});

test('a node that turns slow loses the reads to a faster one within a few requests', async () => {
  fresh();
  // Both hold the version served (n1 #3), so freshness does not decide.
  const a = fake('a', { handle: serving(content), delayMs: 0, applied: { n1: 3 } });
  // Delays far apart: a loaded machine adds tens of milliseconds to any request, which must not reorder them.
  const b = fake('b', { handle: serving(content), delayMs: 60, applied: { n1: 3 } });
  const served: string[] = [];
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]), onResponse: (r) => served.push(r.nodeId!) }));
  for (let i = 0; i < 5; i++) await (await client.get('x.bin')).arrayBuffer();
  assert.equal(served, ['a', 'a', 'a', 'a', 'a']);
  a.delayMs = 400;
  served.length = 0;
  for (let i = 0; i < 10; i++) await (await client.get('x.bin')).arrayBuffer();
  const lastA = served.lastIndexOf('a');
  assert.ok(lastA >= 0 && lastA < 3, `a kept serving: ${served.join(' ')}`);
  assert.equal(served.slice(3), Array(7).fill('b'));
  await client.close();
});

test('a download that breaks midway resumes at another node with Range and If-Range, and ends whole and verified', async () => {
  fresh();
  const a = fake('a', { handle: (req) => new Response(brokenBody(content.slice(0, 100_000), 'break'), { headers: serving(content)(req).headers }) });
  const b = fake('b', { handle: serving(content) });
  const failovers: FailoverInfo[] = [];
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]), onFailover: (f) => failovers.push(f) }));
  const res = await client.get('x.bin');
  assert.is(res.status, 200);
  const got = new Uint8Array(await res.arrayBuffer());
  assert.is(got.length, content.length);
  assert.is(sha256(got), sha256(content));
  assert.is(b.seen.length, 1);
  assert.is(b.seen[0].target, `/files/x.bin?version=${VERSION}`);
  assert.is(b.seen[0].headers.get('range'), 'bytes=100000-');
  assert.is(b.seen[0].headers.get('if-range'), `"${VERSION}"`);
  assert.equal(failovers.map((f) => [f.nodeId, f.resumeAt]), [['a', 100_000]]);
  await client.close();
});

test('resuming skips a node that has another version, and copes with a node that ignores Range', async () => {
  fresh();
  const a = fake('a', { handle: (req) => new Response(brokenBody(content.slice(0, 50_000), 'break'), { headers: serving(content)(req).headers }) });
  // b has moved on to a newer version and (like a node that ignores If-Range) serves its range anyway.
  const b = fake('b', { handle: serving(content.map((x) => x ^ 1), { version: '0192f3a4b5c7-0000-n2' }) });
  const c = fake('c', { handle: serving(content, { ignoreRange: true }) });
  const client = await measured(createClient({ nodes: [a.url, b.url, c.url], fetch: fakeCluster([a, b, c]) }));
  const res = await client.get('x.bin');
  assert.is(sha256(new Uint8Array(await res.arrayBuffer())), sha256(content));
  assert.is(b.seen.length, 1, 'b was asked');
  assert.is(c.seen.length, 1, 'c finished it');
  await client.close();
});

test('a stalled download (no bytes within the timeout) resumes elsewhere', async () => {
  fresh();
  const a = fake('a', { handle: (req) => new Response(brokenBody(content.slice(0, 70_000), 'stall', req.signal), { headers: serving(content)(req).headers }) });
  const b = fake('b', { handle: serving(content) });
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]), timeoutMs: 150 }));
  const started = performance.now();
  const got = new Uint8Array(await (await client.get('x.bin')).arrayBuffer());
  assert.is(sha256(got), sha256(content));
  assert.ok(performance.now() - started < 2000);
  await client.close();
});

test('bytes that do not match the announced SHA-256 fail the download', async () => {
  fresh();
  const bad = content.slice();
  bad[5] ^= 0xff;
  const a = fake('a', { handle: () => new Response(bad as BodyInit, { headers: { etag: `"${VERSION}"`, 'content-length': String(bad.length), 'content-digest': digestHeader(content) } }) });
  const client = createClient({ nodes: [a.url], fetch: fakeCluster([a]) });
  const res = await client.get('x.bin');
  try {
    await res.arrayBuffer();
    assert.unreachable('expected a digest mismatch');
  } catch (err) {
    assert.instance(err, DigestMismatchError);
  }
  await client.close();
});

test('an upload whose node fails before answering is sent again, whole, to another node', async () => {
  fresh();
  const record = { path: 'u.bin', version: VERSION, origin: 'b', seq: 1, size: content.length, sha256: sha256(content), replicas: ['b'] };
  const a = fake('a', { handle: () => Response.json({ error: 'internal', message: 'disk exploded' }, { status: 500 }) });
  const b = fake('b', { handle: ({ body }) => (assert.is(sha256(body), sha256(content)), Response.json(record, { status: 201 })) });
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]) }));
  const stored = await client.put('u.bin', () => new Response(content as BodyInit).body!, { size: content.length });
  assert.is(stored.origin, 'b');
  assert.is(a.seen.length + b.seen.length, 2);
  assert.is(b.seen.length, 1);
  await client.close();
});

test('a plain stream, once read, is not sent again: the node\'s failure is the answer', async () => {
  fresh();
  const a = fake('a', { handle: () => Response.json({ error: 'internal', message: 'disk exploded' }, { status: 500 }) });
  const b = fake('b', { handle: () => Response.json({}, { status: 201 }) });
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]) }));
  try {
    await client.put('u.bin', new Response(content as BodyInit).body!, { size: content.length });
    assert.unreachable('a read stream cannot be sent again');
  } catch (err) {
    assert.instance(err, NuvemHttpError);
    assert.is((err as NuvemHttpError).status, 500);
  }
  assert.is(b.seen.length, 0);
  await client.close();
});

test('503 write_concern counts as stored: never sent to another node', async () => {
  fresh();
  const a = fake('a', { handle: () => Response.json({ error: 'write_concern', message: 'only 1', replicas: ['a'] }, { status: 503 }) });
  const b = fake('b', { handle: () => Response.json({}, { status: 201 }) });
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]) }));
  b.down = true; // so a is chosen; b must then never be asked anyway
  try {
    await client.put('w.txt', 'hello', { w: 2 });
    assert.unreachable('expected write_concern');
  } catch (err) {
    assert.instance(err, NuvemHttpError);
    assert.is((err as NuvemHttpError).code, 'write_concern');
  }
  assert.is(a.seen.length, 1);
  assert.is(b.seen.length, 0);
  await client.close();
});

test('read-your-writes: after writing V, reads send min_version=V; a node behind (503, or 404 for a path it never got) is passed over', async () => {
  fresh();
  const v = '0192f3a4b5c9-0000-a';
  const a = fake('a', {
    handle: ({ method }) => method === 'PUT'
      ? Response.json({ path: 'r.txt', version: v, origin: 'a', seq: 8, size: 2, sha256: sha256(new TextEncoder().encode('v2')), replicas: ['a'] }, { status: 201 })
      : new Response('v2', { headers: { etag: `"${v}"`, 'x-nuvem-origin': 'a', 'x-nuvem-seq': '8' } }),
  });
  const behind503 = fake('b', { applied: { a: 3 }, handle: () => Response.json({ error: 'unavailable', message: 'older' }, { status: 503 }) });
  const behind404 = fake('c', { applied: { a: 3 }, handle: () => Response.json({ error: 'not_found', message: 'no' }, { status: 404 }) });
  const client = await measured(createClient({ nodes: [a.url, behind503.url, behind404.url], fetch: fakeCluster([a, behind503, behind404]) }));
  behind503.down = behind404.down = true; // the write lands on a
  await client.put('r.txt', 'v2');
  behind503.down = behind404.down = false;
  // Only a holds v: b and c are not even asked while a is up.
  assert.is(await (await client.get('r.txt')).text(), 'v2');
  assert.match(a.seen.at(-1)!.target, /min_version=0192f3a4b5c9-0000-a/);
  assert.is(behind503.seen.length + behind404.seen.length, 0);
  // With a down, the stale ones are a last resort, and neither may answer with something older.
  a.down = true;
  try {
    await client.get('r.txt');
    assert.unreachable('no node holds v');
  } catch (err) {
    assert.instance(err, NuvemHttpError);
  }
  assert.is(behind503.seen.length, 1);
  assert.is(behind404.seen.length, 1);
  assert.match(behind404.seen[0].target, /min_version=/);
  await client.close();
});

test('every node down: a clear error', async () => {
  fresh();
  const a = fake('a', { down: true });
  const b = fake('b', { down: true });
  const client = await measured(createClient({ nodes: [a.url, b.url], fetch: fakeCluster([a, b]) }));
  try {
    await client.get('x');
    assert.unreachable('expected NoNodeAvailableError');
  } catch (err) {
    assert.instance(err, NoNodeAvailableError);
    assert.is((err as Error).message, 'Cannot reach any Nuvem node: http://a.test:7001 (connect ECONNREFUSED); http://b.test:7001 (connect ECONNREFUSED)');
  }
  await client.close();
});

test('a node that answers without a status (a wrong token) is still tried, so its own error comes through', async () => {
  fresh();
  const deny = () => Response.json({ error: 'unauthorized', message: 'The bearer token is wrong' }, { status: 401 });
  const a = fake('a', { handle: deny });
  const plain = fakeCluster([a]);
  // The node refuses /status too.
  const fetchFn = async (input: string, init?: RequestInit) => (input.endsWith('/status') ? deny() : plain(input, init));
  const client = createClient({ nodes: [a.url], fetch: fetchFn });
  try {
    await client.list('');
    assert.unreachable('expected 401');
  } catch (err) {
    assert.instance(err, NuvemHttpError);
    assert.is((err as Error).message, 'The bearer token is wrong');
  }
  assert.equal((await client.nodes()).map((n) => [n.id, n.state, n.error]), [[a.url, 'unknown', 'its /status answered 401']]);
  await client.close();
});

test.run();
