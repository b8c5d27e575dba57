/**
 * GET and HEAD /files/{path}: headers, conditional GETs, ranges, kept
 * versions (?version=) and ?min_version=.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { contentDigest, randomBytesFrom, sha256 } from './_support/bytes.ts';
import { put, bytes, errorOf } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

const download = suite('GET and HEAD /files/{path}');
let dl: InProcessNode;
const small = randomBytesFrom(10, 1000);
const large = randomBytesFrom(11, 300 * 1024); // beyond the small-file cache: streamed from disk
let smallRecord: any;
download.before(async () => {
  dl = await inProcessNode();
  smallRecord = await (await put(dl, 'small.bin', small, { 'content-type': 'application/x-test' })).json();
  await put(dl, 'large.bin', large);
});
download.after(() => dl.close());

download('GET sends the bytes with ETag, Last-Modified, Content-Length, Content-Type, Content-Digest, X-Nuvem-Node', async () => {
  const res = await dl.request('/files/small.bin');
  assert.is(res.status, 200);
  assert.is(res.headers.get('etag'), `"${smallRecord.version}"`);
  assert.is(res.headers.get('last-modified'), new Date(smallRecord.modified).toUTCString());
  assert.is(res.headers.get('content-length'), '1000');
  assert.is(res.headers.get('content-type'), 'application/x-test');
  assert.is(res.headers.get('content-digest'), contentDigest(sha256(small)));
  assert.is(res.headers.get('x-nuvem-node'), dl.id);
  assert.equal(await bytes(res), small);

  const big = await dl.request('/files/large.bin');
  assert.is(big.headers.get('content-length'), String(large.length));
  assert.is(sha256(await bytes(big)), sha256(large));
});

download('If-None-Match with the current version (or *) is 304 without a body', async () => {
  for (const inm of [`"${smallRecord.version}"`, `"other", "${smallRecord.version}"`, '*']) {
    const res = await dl.request('/files/small.bin', { headers: { 'if-none-match': inm } });
    assert.is(res.status, 304, inm);
    assert.is(res.headers.get('etag'), `"${smallRecord.version}"`);
    assert.is((await bytes(res)).length, 0);
  }
  const stale = await dl.request('/files/small.bin', { headers: { 'if-none-match': '"0000-old"' } });
  assert.is(stale.status, 200);
  assert.equal(await bytes(stale), small);
});

download('Range: first bytes, middle, suffix and open-ended are 206 with Content-Range', async () => {
  for (const [name, data] of [['small.bin', small], ['large.bin', large]] as const) {
    const size = data.length;
    const cases: [string, number, number][] = [
      ['bytes=0-9', 0, 9],
      ['bytes=100-199', 100, 199],
      ['bytes=-5', size - 5, size - 1],
      [`bytes=${size - 10}-`, size - 10, size - 1],
      [`bytes=0-${size + 1000}`, 0, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await dl.request(`/files/${name}`, { headers: { range } });
      assert.is(res.status, 206, `${name} ${range}`);
      assert.is(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`, `${name} ${range}`);
      assert.is(res.headers.get('content-length'), String(end + 1 - start));
      assert.equal(await bytes(res), data.subarray(start, end + 1), `${name} ${range}`);
    }
  }
});

download('a Range past the end is 416 with Content-Range: bytes */size', async () => {
  for (const range of ['bytes=1000-', 'bytes=5000-6000']) {
    const res = await dl.request('/files/small.bin', { headers: { range } });
    assert.is(res.headers.get('content-range'), 'bytes */1000', range);
    await errorOf(res, 416, 'range_not_satisfiable');
  }
});

download('HEAD has the same headers and no body', async () => {
  const get = await dl.request('/files/large.bin');
  await get.arrayBuffer();
  const head = await dl.request('/files/large.bin', { method: 'HEAD' });
  assert.is(head.status, 200);
  for (const h of ['etag', 'last-modified', 'content-length', 'content-type', 'content-digest', 'x-nuvem-node']) {
    assert.ok(head.headers.get(h), `HEAD has ${h}`);
    assert.is(head.headers.get(h), get.headers.get(h), h);
  }
  assert.is((await bytes(head)).length, 0);
  const ranged = await dl.request('/files/large.bin', { method: 'HEAD', headers: { range: 'bytes=-5' } });
  assert.is(ranged.status, 206);
  assert.is(ranged.headers.get('content-range'), `bytes ${large.length - 5}-${large.length - 1}/${large.length}`);
  const absent = await dl.request('/files/absent.bin', { method: 'HEAD' });
  assert.is(absent.status, 404);
});

download('?version= reads a kept revision; an unknown version is 404', async () => {
  const v1 = await (await put(dl, 'ver.txt', 'one')).json();
  const v2 = await (await put(dl, 'ver.txt', 'two')).json();
  const old = await dl.request(`/files/ver.txt?version=${encodeURIComponent(v1.version)}`);
  assert.is(old.status, 200);
  assert.is(old.headers.get('etag'), `"${v1.version}"`);
  assert.equal(await bytes(old), Buffer.from('one'));
  const now = await dl.request(`/files/ver.txt?version=${encodeURIComponent(v2.version)}`);
  assert.equal(await bytes(now), Buffer.from('two'));
  await errorOf(await dl.request('/files/ver.txt?version=000000000000-0000-nope'), 404, 'not_found');
});

download('?min_version= newer than held is 503 with Retry-After; held is 200', async () => {
  const newer = 'ffffffffffff-ffff-zzzz';
  const res = await dl.request(`/files/small.bin?min_version=${newer}`);
  assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
  await errorOf(res, 503, 'unavailable');
  const held = await dl.request(`/files/small.bin?min_version=${encodeURIComponent(smallRecord.version)}`);
  assert.is(held.status, 200);
  assert.equal(await bytes(held), small);
});

download('?min_version= on a path this node has not received yet is 503, not 404', async () => {
  const res = await dl.request('/files/not-here-yet.txt?min_version=ffffffffffff-ffff-zzzz');
  await errorOf(res, 503, 'unavailable');
});

download('Range with an If-Range naming an older version sends the whole current version (200)', async () => {
  const v1 = await (await put(dl, 'ifrange.txt', 'first version')).json();
  await put(dl, 'ifrange.txt', 'second version, longer');
  const stale = await dl.request('/files/ifrange.txt', { headers: { range: 'bytes=6-', 'if-range': `"${v1.version}"` } });
  assert.is(stale.status, 200);
  assert.is((await bytes(stale)).toString(), 'second version, longer');
  const fresh = await dl.request('/files/ifrange.txt', { headers: { range: 'bytes=7-', 'if-range': stale.headers.get('etag')! } });
  assert.is(fresh.status, 206);
  assert.is((await bytes(fresh)).toString(), 'version, longer');
});

download('an absent path is 404 JSON; a folder is listed, not downloaded', async () => {
  await errorOf(await dl.request('/files/nothing/here.txt'), 404, 'not_found');
  await put(dl, 'dir/in.txt', 'x');
  await errorOf(await dl.request('/files/dir/in.txt/'), 409, 'conflict');
});

download.run();
