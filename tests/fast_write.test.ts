// The runtime's fast path for plain uploads (functions/mod.ts fastWrite,
// nodes/http_node.ts): over a real socket a PUT gets the answer the Hono
// route gives (status, headers, JSON), errors included, is counted in
// /metrics, and anything else (other methods, queries but w=, bad paths,
// folders, a node with a token) is left to the app before the body is read.
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';
import { headersOf, realNode } from './_support/real_node.ts';

const counted = async (url: string, code: number) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`nuvem_http_requests_total\\{method="PUT",code="${code}",route="/files/\\{path\\}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

/**
 * What must agree between the two paths: status, headers (but the version's
 * ETag), the fields of a record, an error whole (its file named the same).
 */
async function shape(res: Response) {
  const json = await res.json();
  const { etag: _e, ...headers } = headersOf(res);
  const fields = json.error ? { ...json, message: json.message.replaceAll('app', 'new') } : Object.keys(json).sort();
  return { status: res.status, headers, fields };
}

test('a PUT over the socket answers as the PUT route does: created, replaced, refused', async () => {
  const { node, close } = await realNode();
  try {
    const body = randomBytesFrom(21, 5000);
    const viaSocket = (path: string, init: RequestInit = {}) => fetch(`${node.url}/files/${path}`, { method: 'PUT', body: new Uint8Array(body), ...init });
    // The route itself, over the socket too: a query parameter the route ignores keeps the fast path out.
    const viaApp = (path: string, init: RequestInit = {}) => viaSocket(`${path}${path.includes('?') ? '&' : '?'}slow=1`, init);
    const created201 = await counted(node.url, 201);
    for (const [label, path, init] of [
      ['created', 'w/new.bin', {}],
      ['created with w=1', 'w/new-w1.bin?w=1', {}],
      ['replaced', 'w/new.bin', {}],
      ['If-Match mismatch', 'w/new.bin', { headers: { 'if-match': '"nope"' } }],
      ['If-None-Match: * on an existing file', 'w/new.bin', { headers: { 'if-none-match': '*' } }],
      ['wrong Content-Digest', 'w/digest.bin', { headers: { 'content-digest': `sha-256=:${Buffer.alloc(32).toString('base64')}:` } }],
      ['write concern not met', 'w/w3.bin?w=3', {}],
      ['a file where a folder is', 'w/new.bin/below', {}],
    ] as const) {
      const a = await viaSocket(path, init);
      const b = await viaApp(path.replace('new.bin', 'app.bin').replace('new-w1.bin', 'app-w1.bin'), init);
      const fast = await shape(a);
      assert.equal(fast, await shape(b), label);
      assert.is(fast.headers['content-length'], a.headers.get('content-length'));
    }
    assert.is(await counted(node.url, 201), created201 + 4, 'two creations by each path are counted');
    const before = await counted(node.url, 201);
    assert.is((await viaSocket('w/one-more.bin')).status, 201);
    assert.is(await counted(node.url, 201), before + 1, 'a fast upload is counted');
    assert.is((await fetch(`${node.url}/files/w/digest.bin`)).status, 404, 'a refused body stores nothing');
    const stored = await fetch(`${node.url}/files/w/new.bin`);
    assert.is(sha256(new Uint8Array(await stored.arrayBuffer())), sha256(body));
  } finally {
    await close();
  }
});

test('the fast path takes only plain uploads, and decides before reading the body', async () => {
  const { node, close } = await realNode();
  try {
    let read = false;
    const body: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() { read = true; yield new Uint8Array(1); } };
    for (const [method, target] of [
      ['GET', '/files/a.bin'],
      ['POST', '/files/a.bin'],
      ['PUT', '/files/'],
      ['PUT', '/files/dir/'],
      ['PUT', '/files/a.bin?x=1'],
      ['PUT', '/files/a.bin?w=1&x=1'],
      ['PUT', '/files/a.bin?w=bogus'],
      ['PUT', '/files/a.bin?w=%31'],
      ['PUT', '/files/../status'],
      ['PUT', '/files/a/%2e%2e/b'],
      ['PUT', '/files/%zz'],
      ['PUT', '/files/.nuvem/x'],
      ['PUT', '/status'],
    ] as const) {
      assert.is(node.app.fastWrite(method, target, () => undefined, body), undefined, `${method} ${target}`);
    }
    assert.is(read, false, 'no body was read');
    // The app answers those, as before.
    const dots = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(node.url);
      request({ host: hostname, port, path: '/files/a/%2e%2e/b', method: 'PUT' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject).end('x');
    });
    assert.is(dots, 400);
    const bogus = await fetch(`${node.url}/files/a.bin?w=bogus`, { method: 'PUT', body: 'x' });
    assert.is(bogus.status, 400);
    assert.is((await bogus.json()).error, 'bad_request');
  } finally {
    await close();
  }
});

test('with a token, no upload skips the bearer check', async () => {
  const { node, close } = await realNode('sekrit');
  try {
    const body: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() { yield new Uint8Array(1); } };
    assert.is(node.app.fastWrite('PUT', '/files/t.bin', () => undefined, body), undefined);
    assert.is((await fetch(`${node.url}/files/t.bin`, { method: 'PUT', body: 'x' })).status, 401);
    assert.is((await fetch(`${node.url}/files/t.bin`, { method: 'PUT', body: 'x', headers: { authorization: 'Bearer sekrit' } })).status, 201);
  } finally {
    await close();
  }
});

test.run();
