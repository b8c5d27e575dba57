// The runtime's fast path for cached small reads (functions/mod.ts fastRead,
// nodes/http_node.ts): over a real socket it gives the answer the GET handler
// gives (same status, headers and bytes), counts it in /metrics, and leaves
// everything else to the app: ranges, conditions, queries, bad paths, HEAD,
// listings, files not in memory, and every request to a node with a token.
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';
import { headersOf, realNode } from './_support/real_node.ts';

const get200 = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/nuvem_http_requests_total\{method="GET",code="200",route="\/files\/\{path\}"\} (\d+)/.exec(text)?.[1] ?? 0);
};

test('a cached small read over the socket equals the GET handler\'s answer, and is counted', async () => {
  const { node, close } = await realNode();
  try {
    const body = randomBytesFrom(7, 3000);
    const put = await fetch(`${node.url}/files/fast/a%20b.txt`, { method: 'PUT', body: new Uint8Array(body), headers: { 'content-type': 'text/plain' } });
    assert.is(put.status, 201);
    assert.ok(node.app.fastRead('GET', '/files/fast/a%20b.txt', () => undefined), 'the fast path answers this read');
    const viaApp = await node.app.request('/files/fast/a%20b.txt');
    const before = await get200(node.url);
    const viaSocket = await fetch(`${node.url}/files/fast/a%20b.txt`);
    assert.is(viaSocket.status, 200);
    const bytes = new Uint8Array(await viaSocket.arrayBuffer());
    assert.is(sha256(bytes), sha256(body));
    assert.is(sha256(new Uint8Array(await viaApp.arrayBuffer())), sha256(body));
    const fast = headersOf(viaSocket);
    const slow = { ...headersOf(viaApp), 'x-nuvem-node': node.id };
    assert.equal(fast, slow);
    assert.is(fast['content-digest'], `sha-256=:${Buffer.from(sha256(body), 'hex').toString('base64')}:`);
    assert.is(await get200(node.url), before + 1, 'the socket read (fast path) is counted under its route');
  } finally {
    await close();
  }
});

test('everything but a plain cached read goes through the app', async () => {
  const { node, close } = await realNode();
  try {
    const body = randomBytesFrom(8, 3000);
    const put = await fetch(`${node.url}/files/f/x.bin`, { method: 'PUT', body: new Uint8Array(body) });
    const version = (await put.json()).version;
    const fast = (method: string, target: string, headers: Record<string, string> = {}) => node.app.fastRead(method, target, (n) => headers[n]);
    assert.ok(fast('GET', '/files/f/x.bin'));
    for (const [method, target, headers] of [
      ['HEAD', '/files/f/x.bin', {}],
      ['GET', '/files/f/x.bin?version=' + version, {}],
      ['GET', '/files/f/x.bin', { range: 'bytes=0-9' }],
      ['GET', '/files/f/x.bin', { 'if-none-match': `"${version}"` }],
      ['GET', '/files/f/x.bin', { 'if-range': `"${version}"` }],
      ['GET', '/files/f/', {}],
      ['GET', '/files/f/../f/x.bin', {}],
      ['GET', '/files/f/%zz', {}],
      ['GET', '/status', {}],
      ['PUT', '/files/f/x.bin', {}],
    ] as const) {
      assert.is(fast(method, target, headers), undefined, `${method} ${target} ${JSON.stringify(headers)}`);
    }
    const ranged = await fetch(`${node.url}/files/f/x.bin`, { headers: { range: 'bytes=0-9' } });
    assert.is(ranged.status, 206);
    assert.is((await ranged.arrayBuffer()).byteLength, 10);
    // Raw target (fetch would resolve the dot segments before sending).
    const dots = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(node.url);
      request({ host: hostname, port, path: '/files/f/%2e%2e/f/x.bin' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject).end();
    });
    assert.is(dots, 400);
    const notModified = await fetch(`${node.url}/files/f/x.bin`, { headers: { 'if-none-match': `"${version}"` } });
    assert.is(notModified.status, 304);
  } finally {
    await close();
  }
});

test('with a token, no read skips the bearer check', async () => {
  const { node, close } = await realNode('sekrit');
  try {
    const body = randomBytesFrom(9, 100);
    const put = await fetch(`${node.url}/files/t.bin`, { method: 'PUT', body: new Uint8Array(body), headers: { authorization: 'Bearer sekrit' } });
    assert.is(put.status, 201);
    assert.is(node.app.fastRead('GET', '/files/t.bin', () => undefined), undefined);
    const anonymous = await fetch(`${node.url}/files/t.bin`);
    assert.is(anonymous.status, 401);
    const authorized = await fetch(`${node.url}/files/t.bin`, { headers: { authorization: 'Bearer sekrit' } });
    assert.is(authorized.status, 200);
    assert.is(sha256(new Uint8Array(await authorized.arrayBuffer())), sha256(body));
  } finally {
    await close();
  }
});

test.run();
