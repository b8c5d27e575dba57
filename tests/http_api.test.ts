/**
 * The HTTP API of one node (DESIGN.md section 3), every route and header,
 * through `app.request()` (no socket) on a node wired as `startNode` wires it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { contentDigest, EMPTY_SHA256, randomBytesFrom, sha256 } from './_support/bytes.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

const FIELDS = ['path', 'type', 'version', 'size', 'sha256', 'modified', 'contentType', 'deleted', 'origin', 'seq'];

async function put(node: InProcessNode, path: string, body: Uint8Array | string, headers: Record<string, string> = {}) {
  return node.request(`/files/${path}`, { method: 'PUT', body: body as BodyInit, headers });
}

async function bytes(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

async function errorOf(res: Response, status: number, code: string): Promise<any> {
  const text = await res.text();
  assert.is(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text);
  assert.is(body.error, code, text);
  assert.type(body.message, 'string');
  assert.ok(body.message.length > 0);
  return body;
}

async function current(node: InProcessNode, path: string): Promise<{ status: number; body: Buffer; etag: string | null }> {
  const res = await node.request(`/files/${path}`);
  return { status: res.status, body: await bytes(res), etag: res.headers.get('etag') };
}

function tmpEntries(node: InProcessNode): string[] {
  return readdirSync(join(node.dataDir, '.nuvem', 'tmp'));
}

// --- PUT

const upload = suite('PUT /files/{path}');
let node: InProcessNode;
upload.before(async () => {
  node = await inProcessNode();
});
upload.after(() => node.close());

upload('a new file is 201 with the record, replicas and ETag; a replacement is 200', async () => {
  const body = 'hello, nuvem\n';
  const res = await put(node, 'docs/hello.txt', body, { 'content-type': 'text/plain' });
  assert.is(res.status, 201);
  const record = await res.json();
  for (const f of FIELDS) assert.ok(f in record, `record has ${f}`);
  assert.is(record.path, 'docs/hello.txt');
  assert.is(record.type, 'file');
  assert.is(record.size, Buffer.byteLength(body));
  assert.is(record.sha256, sha256(body));
  assert.is(record.contentType, 'text/plain');
  assert.is(record.deleted, false);
  assert.is(record.origin, node.id);
  assert.ok(record.seq > 0);
  assert.equal(record.replicas, [node.id]);
  assert.is(res.headers.get('etag'), `"${record.version}"`);
  assert.is(res.headers.get('x-nuvem-node'), node.id);

  const again = await put(node, 'docs/hello.txt', 'second');
  assert.is(again.status, 200);
  const replaced = await again.json();
  assert.ok(replaced.version > record.version, 'versions increase');
  assert.ok(replaced.seq > record.seq);
  assert.is(replaced.sha256, sha256('second'));
  assert.is(again.headers.get('etag'), `"${replaced.version}"`);
  assert.equal((await current(node, 'docs/hello.txt')).body, Buffer.from('second'));
});

upload('an empty body is an empty file', async () => {
  const res = await put(node, 'empty.bin', new Uint8Array(0));
  assert.is(res.status, 201);
  const record = await res.json();
  assert.is(record.size, 0);
  assert.is(record.sha256, EMPTY_SHA256);
  const got = await node.request('/files/empty.bin');
  assert.is(got.status, 200);
  assert.is(got.headers.get('content-length'), '0');
  assert.is((await bytes(got)).length, 0);
});

upload('If-Match: the current version replaces; another version is 412 and changes nothing', async () => {
  const first = await (await put(node, 'im.txt', 'v1')).json();
  const ok = await put(node, 'im.txt', 'v2', { 'if-match': `"${first.version}"` });
  assert.is(ok.status, 200);
  const second = await ok.json();
  await errorOf(await put(node, 'im.txt', 'v3', { 'if-match': `"${first.version}"` }), 412, 'precondition_failed');
  const now = await current(node, 'im.txt');
  assert.equal(now.body, Buffer.from('v2'));
  assert.is(now.etag, `"${second.version}"`);
  await errorOf(await put(node, 'im-absent.txt', 'x', { 'if-match': `"${first.version}"` }), 412, 'precondition_failed');
  assert.is((await current(node, 'im-absent.txt')).status, 404);
  assert.equal(tmpEntries(node), []);
});

upload('If-None-Match: * creates once, then is 412', async () => {
  assert.is((await put(node, 'inm.txt', 'only', { 'if-none-match': '*' })).status, 201);
  await errorOf(await put(node, 'inm.txt', 'again', { 'if-none-match': '*' }), 412, 'precondition_failed');
  assert.equal((await current(node, 'inm.txt')).body, Buffer.from('only'));
});

upload('Content-Digest: right is stored, wrong is 400 bad_digest and stores nothing', async () => {
  const good = randomBytesFrom(1, 5000);
  const res = await put(node, 'dig.bin', good, { 'content-digest': contentDigest(sha256(good)) });
  assert.is(res.status, 201);
  const record = await res.json();
  assert.is(record.sha256, sha256(good));

  const other = randomBytesFrom(2, 5000);
  const bad = await put(node, 'dig.bin', other, { 'content-digest': contentDigest(sha256(good)) });
  await errorOf(bad, 400, 'bad_digest');
  const now = await current(node, 'dig.bin');
  assert.is(sha256(now.body), sha256(good), 'the old version is intact');
  assert.is(now.etag, `"${record.version}"`);

  await errorOf(await put(node, 'dig-new.bin', other, { 'content-digest': contentDigest(sha256(good)) }), 400, 'bad_digest');
  assert.is((await current(node, 'dig-new.bin')).status, 404, 'nothing stored at a new path');
  assert.equal(tmpEntries(node), []);

  await errorOf(await put(node, 'dig-new.bin', other, { 'content-digest': 'sha-256=not-base64' }), 400, 'bad_request');
  assert.is((await current(node, 'dig-new.bin')).status, 404);
});

upload('Content-Type is kept; without one it is application/octet-stream', async () => {
  await put(node, 'page.html', '<p>hi</p>', { 'content-type': 'text/html; charset=utf-8' });
  const res = await node.request('/files/page.html');
  assert.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
  await put(node, 'blob', Buffer.from('x'));
  const blob = await node.request('/files/blob', { method: 'HEAD' });
  assert.is(blob.headers.get('content-type'), 'application/octet-stream');
});

upload('?w= write concern: more nodes than exist is 503 write_concern, yet the change is stored', async () => {
  for (const w of ['1', 'auto', 'majority', 'all']) {
    const res = await put(node, `wc/${w}.txt`, Buffer.from(w), {});
    assert.ok(res.status === 201, `w=${w} default: ${res.status}`);
    const again = await node.request(`/files/wc/${w}.txt?w=${w}`, { method: 'PUT', body: Buffer.from(`${w}!`) });
    assert.is(again.status, 200, `w=${w}`);
  }
  const res = await node.request('/files/wc/two.txt?w=2', { method: 'PUT', body: Buffer.from('needs two') });
  assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
  const body = await errorOf(res, 503, 'write_concern');
  assert.equal(body.replicas, [node.id]);
  assert.equal((await current(node, 'wc/two.txt')).body, Buffer.from('needs two'), 'the change stays');
  await errorOf(await node.request('/files/wc/two.txt?w=2', { method: 'DELETE' }), 503, 'write_concern');
  assert.is((await current(node, 'wc/two.txt')).status, 404, 'the delete stays');
  await errorOf(await node.request('/files/wc/three.txt?w=zero', { method: 'PUT', body: Buffer.from('x') }), 400, 'bad_request');
  assert.is((await current(node, 'wc/three.txt')).status, 404);
});

upload('a file cannot be put where a folder is, nor under a file (409)', async () => {
  await put(node, 'fold/inner.txt', 'x');
  await errorOf(await put(node, 'fold', 'y'), 409, 'conflict');
  await errorOf(await put(node, 'fold/inner.txt/deeper', 'z'), 409, 'conflict');
});

upload.run();

// ---

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

// ---

const remove = suite('DELETE /files/{path}');
let rm: InProcessNode;
remove.before(async () => {
  rm = await inProcessNode();
});
remove.after(() => rm.close());

remove('a file: 204, then GET 404 and DELETE 404', async () => {
  await put(rm, 'gone.txt', 'bye');
  const res = await rm.request('/files/gone.txt', { method: 'DELETE' });
  assert.is(res.status, 204);
  assert.is((await bytes(res)).length, 0);
  await errorOf(await rm.request('/files/gone.txt'), 404, 'not_found');
  await errorOf(await rm.request('/files/gone.txt', { method: 'DELETE' }), 404, 'not_found');
  await errorOf(await rm.request('/files/never.txt', { method: 'DELETE' }), 404, 'not_found');
});

remove('If-Match on DELETE: a stale version is 412 and the file stays', async () => {
  const v1 = await (await put(rm, 'cond.txt', 'a')).json();
  await put(rm, 'cond.txt', 'b');
  await errorOf(await rm.request('/files/cond.txt', { method: 'DELETE', headers: { 'if-match': `"${v1.version}"` } }), 412, 'precondition_failed');
  assert.equal((await current(rm, 'cond.txt')).body, Buffer.from('b'));
});

remove('a folder needs ?recursive=true (409 without); with it the subtree is gone', async () => {
  await put(rm, 'tree/a.txt', 'a');
  await put(rm, 'tree/sub/b.txt', 'b');
  await rm.request('/files/tree/empty', { method: 'MKCOL' });
  await errorOf(await rm.request('/files/tree', { method: 'DELETE' }), 409, 'conflict');
  assert.equal((await current(rm, 'tree/sub/b.txt')).body, Buffer.from('b'));
  const res = await rm.request('/files/tree?recursive=true', { method: 'DELETE' });
  assert.is(res.status, 204);
  for (const p of ['tree/a.txt', 'tree/sub/b.txt']) assert.is((await current(rm, p)).status, 404, p);
  await errorOf(await rm.request('/files/tree/'), 404, 'not_found');
  const root = await (await rm.request('/files/')).json();
  assert.not.ok(root.entries.some((e: any) => e.path === 'tree'), 'tree is not listed');
});

remove('deleting or moving the last file of nested folders answers 204/201 and removes the folders', async () => {
  await put(rm, 'n1/n2/n3/f.txt', 'f');
  const del = await rm.request('/files/n1/n2/n3/f.txt', { method: 'DELETE' });
  assert.is(del.status, 204, `DELETE: ${await del.text()}`);
  await errorOf(await rm.request('/files/n1/'), 404, 'not_found');
  await put(rm, 'm1/m2/g.txt', 'g');
  const mv = await rm.request('/files/m1/m2/g.txt', { method: 'MOVE', headers: { destination: '/files/g.txt' } });
  assert.is(mv.status, 201, `MOVE: ${await mv.text()}`);
  assert.equal((await current(rm, 'g.txt')).body, Buffer.from('g'));
  await errorOf(await rm.request('/files/m1/'), 404, 'not_found');
});

remove('an empty folder is deleted without ?recursive', async () => {
  assert.is((await rm.request('/files/hollow', { method: 'MKCOL' })).status, 201);
  assert.is((await rm.request('/files/hollow', { method: 'DELETE' })).status, 204);
  await errorOf(await rm.request('/files/hollow/'), 404, 'not_found');
});

remove.run();

// ---

const move = suite('MOVE /files/{path}');
let mv: InProcessNode;
move.before(async () => {
  mv = await inProcessNode();
});
move.after(() => mv.close());

const MOVE = (from: string, destination: string, headers: Record<string, string> = {}) =>
  mv.request(`/files/${from}`, { method: 'MOVE', headers: { destination, ...headers } });

move('a file to a Destination path: same sha256, the source is 404 after', async () => {
  const data = randomBytesFrom(20, 70 * 1024);
  const before = await (await put(mv, 'm/a.bin', data, { 'content-type': 'application/x-a' })).json();
  const res = await MOVE('m/a.bin', '/files/m2/b.bin');
  assert.is(res.status, 201);
  const record = await res.json();
  assert.is(record.path, 'm2/b.bin');
  assert.is(record.sha256, before.sha256);
  assert.is(record.size, before.size);
  assert.is(record.contentType, 'application/x-a');
  assert.ok(record.version > before.version);
  assert.is(res.headers.get('etag'), `"${record.version}"`);
  const moved = await current(mv, 'm2/b.bin');
  assert.is(sha256(moved.body), sha256(data));
  await errorOf(await mv.request('/files/m/a.bin'), 404, 'not_found');
});

move('Destination as an absolute URL', async () => {
  await put(mv, 'abs.txt', 'absolute');
  const res = await MOVE('abs.txt', 'http://127.0.0.1:7001/files/abs-moved.txt');
  assert.is(res.status, 201);
  assert.equal((await current(mv, 'abs-moved.txt')).body, Buffer.from('absolute'));
  assert.is((await current(mv, 'abs.txt')).status, 404);
});

move('Overwrite: F onto an existing target is 412 and both stay; the default overwrites (200)', async () => {
  await put(mv, 'o/src.txt', 'source');
  const target = await (await put(mv, 'o/dst.txt', 'target')).json();
  await errorOf(await MOVE('o/src.txt', '/files/o/dst.txt', { overwrite: 'F' }), 412, 'precondition_failed');
  assert.equal((await current(mv, 'o/src.txt')).body, Buffer.from('source'));
  assert.equal((await current(mv, 'o/dst.txt')).body, Buffer.from('target'));
  const res = await MOVE('o/src.txt', '/files/o/dst.txt');
  assert.is(res.status, 200);
  assert.equal((await current(mv, 'o/dst.txt')).body, Buffer.from('source'));
  assert.is((await current(mv, 'o/src.txt')).status, 404);
  const { revisions } = await (await mv.request('/revisions/o/dst.txt')).json();
  assert.ok(revisions.some((r: any) => r.version === target.version && r.sha256 === sha256('target')), 'the replaced target is kept');
});

move('a folder moves with its subtree', async () => {
  const files: Record<string, Buffer> = { 'f/one.txt': Buffer.from('1'), 'f/sub/two.txt': Buffer.from('2'), 'f/sub/deep/three.txt': Buffer.from('3') };
  for (const [p, b] of Object.entries(files)) await put(mv, p, b);
  await mv.request('/files/f/void', { method: 'MKCOL' });
  const res = await MOVE('f', '/files/g');
  assert.ok(res.status === 201, `status ${res.status}`);
  for (const [p, b] of Object.entries(files)) {
    assert.equal((await current(mv, p.replace(/^f\//, 'g/'))).body, b, p);
    assert.is((await current(mv, p)).status, 404, p);
  }
  const listed = await (await mv.request('/files/g/?recursive=true')).json();
  assert.equal(listed.entries.map((e: any) => e.path).sort(), ['g/one.txt', 'g/sub/deep/three.txt', 'g/sub/two.txt', 'g/void']);
  await errorOf(await mv.request('/files/f/'), 404, 'not_found');
});

move('after a folder moves away, its old name (and subfolders) can be used again', async () => {
  await put(mv, 'again/sub/one.txt', '1');
  await put(mv, 'again/two.txt', '2');
  assert.is((await MOVE('again', '/files/moved-again')).status, 201);
  for (const p of ['again/two.txt', 'again/sub/one.txt', 'again/new/three.txt']) {
    const res = await put(mv, p, `new ${p}`);
    assert.is(res.status, 201, `PUT ${p} after the move: ${await res.text()}`);
    assert.equal((await current(mv, p)).body, Buffer.from(`new ${p}`));
  }
  assert.equal((await current(mv, 'moved-again/sub/one.txt')).body, Buffer.from('1'));
});

move('bad moves: absent source 404, no Destination 400, into itself 409', async () => {
  await errorOf(await MOVE('nope.txt', '/files/x.txt'), 404, 'not_found');
  await put(mv, 'b/x.txt', 'x');
  await errorOf(await mv.request('/files/b/x.txt', { method: 'MOVE' }), 400, 'bad_request');
  await errorOf(await MOVE('b/x.txt', '/elsewhere/x.txt'), 400, 'bad_request');
  await errorOf(await MOVE('b', '/files/b/inner'), 409, 'conflict');
  assert.equal((await current(mv, 'b/x.txt')).body, Buffer.from('x'));
});

move.run();

// ---

const mkcol = suite('MKCOL /files/{path}');
let mk: InProcessNode;
mkcol.before(async () => {
  mk = await inProcessNode();
});
mkcol.after(() => mk.close());

mkcol('creates an empty folder (201), listed; again is 405 with Allow', async () => {
  const res = await mk.request('/files/albums/2026', { method: 'MKCOL' });
  assert.is(res.status, 201);
  const record = await res.json();
  assert.is(record.path, 'albums/2026');
  assert.is(record.type, 'folder');
  const root = await (await mk.request('/files/')).json();
  assert.equal(root.entries.map((e: any) => [e.path, e.type]), [['albums', 'folder']]);
  const inside = await (await mk.request('/files/albums/')).json();
  assert.is(inside.entries.length, 1);
  assert.is(inside.entries[0].path, 'albums/2026');
  assert.is(inside.entries[0].type, 'folder');
  assert.is(inside.entries[0].version, record.version);
  const again = await mk.request('/files/albums/2026', { method: 'MKCOL' });
  assert.ok(again.headers.get('allow'), 'Allow header');
  await errorOf(again, 405, 'method_not_allowed');
  await put(mk, 'afile', 'x');
  await errorOf(await mk.request('/files/afile', { method: 'MKCOL' }), 405, 'method_not_allowed');
});

mkcol.run();

// ---

const listing = suite('GET /files/ and /files/{folder}/');
let ls: InProcessNode;
/**
 * 27 entries, 24 files and 3 explicit folders across nested folders, with
 * names that sort between a folder and its children (`a-z`, `a.txt`, `z-a.txt`, `z.txt`).
 */
const TREE_FILES = [
  'r0.txt', 'r1.txt', 'r2.txt', 'r3.txt', 'r4.txt',
  'a/a0.txt', 'a/a1.txt', 'a/a2.txt', 'a/a3.txt',
  'a/b/b0.txt', 'a/b/b1.txt', 'a/b/b2.txt',
  'a/b/c/c0.txt', 'a/b/c/c1.txt',
  'a.txt', 'a-z/x.txt', 'a0/y.txt',
  'd/e/f/deep.txt', 'd/e/g.txt',
  'z/1.txt', 'z/2.txt', 'z/3.txt', 'z.txt', 'z-a.txt',
];
const TREE_FOLDERS = ['empty', 'a/explicit', 'z'];
const ALL = [...TREE_FILES, ...TREE_FOLDERS].sort();

async function pages(target: string, limit: number): Promise<{ entries: any[]; pages: number }> {
  const entries: any[] = [];
  let cursor = '';
  let count = 0;
  for (;;) {
    const sep = target.includes('?') ? '&' : '?';
    const res = await ls.request(`${target}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.is(res.status, 200);
    const page = await res.json();
    assert.ok(page.entries.length <= limit, `page of ${page.entries.length} > ${limit}`);
    entries.push(...page.entries);
    count++;
    assert.ok(count <= 100, `paging ${target} with limit=${limit} ends (got ${entries.map((e) => e.path).join(' ')})`);
    if (page.next_cursor === '') return { entries, pages: count };
    assert.type(page.next_cursor, 'string');
    cursor = page.next_cursor;
  }
}

listing.before(async () => {
  ls = await inProcessNode();
  for (const p of TREE_FOLDERS) {
    const res = await ls.request(`/files/${p}`, { method: 'MKCOL' });
    assert.is(res.status, 201, p);
  }
  for (const p of TREE_FILES) assert.is((await put(ls, p, p)).status, 201, p);
  await put(ls, 'z/1.txt', 'replaced'); // a replaced file is listed once
});
listing.after(() => ls.close());

listing('the root, not recursive: files and each subfolder once (implicit and explicit)', async () => {
  const res = await ls.request('/files/');
  assert.is(res.status, 200);
  const { entries, next_cursor } = await res.json();
  assert.is(next_cursor, '');
  assert.equal(entries.map((e: any) => `${e.type}:${e.path}`).sort(), [
    'file:a.txt', 'file:r0.txt', 'file:r1.txt', 'file:r2.txt', 'file:r3.txt', 'file:r4.txt', 'file:z-a.txt', 'file:z.txt',
    'folder:a', 'folder:a-z', 'folder:a0', 'folder:d', 'folder:empty', 'folder:z',
  ]);
  const file = entries.find((e: any) => e.path === 'r0.txt');
  for (const f of FIELDS) assert.ok(f in file, `file entry has ${f}`);
  assert.is(file.sha256, sha256('r0.txt'));
  const explicit = entries.find((e: any) => e.path === 'empty');
  assert.type(explicit.version, 'string');
});

listing('a subfolder, not recursive', async () => {
  const { entries } = await (await ls.request('/files/a/')).json();
  assert.equal(entries.map((e: any) => `${e.type}:${e.path}`).sort(), [
    'file:a/a0.txt', 'file:a/a1.txt', 'file:a/a2.txt', 'file:a/a3.txt', 'folder:a/b', 'folder:a/explicit',
  ]);
  const { entries: deep } = await (await ls.request('/files/a/b/c/')).json();
  assert.equal(deep.map((e: any) => e.path), ['a/b/c/c0.txt', 'a/b/c/c1.txt']);
  const { entries: hollow } = await (await ls.request('/files/empty/')).json();
  assert.equal(hollow, []);
});

listing('?recursive=true lists every live record once', async () => {
  const { entries, next_cursor } = await (await ls.request('/files/?recursive=true')).json();
  assert.is(next_cursor, '');
  assert.equal(entries.map((e: any) => e.path), ALL);
  const sub = await (await ls.request('/files/a/?recursive=true')).json();
  assert.equal(sub.entries.map((e: any) => e.path), ALL.filter((p) => p.startsWith('a/')));
});

listing('?limit=2 paging through next_cursor returns every entry exactly once', async () => {
  const rec = await pages('/files/?recursive=true', 2);
  assert.equal(rec.entries.map((e: any) => e.path), ALL);
  assert.is(rec.pages, Math.ceil(ALL.length / 2));
  const flat = await pages('/files/', 2);
  const whole = await (await ls.request('/files/')).json();
  assert.equal(flat.entries, whole.entries);
  const sub = await pages('/files/a/', 2);
  assert.equal(sub.entries, (await (await ls.request('/files/a/')).json()).entries);
  const one = await pages('/files/?recursive=true', 1);
  assert.equal(one.entries.map((e: any) => e.path), ALL);
});

listing('every page size gives the same listing, each entry once (recursive or not, root or subfolder)', async () => {
  for (const target of ['/files/', '/files/a/', '/files/?recursive=true', '/files/a/?recursive=true']) {
    const whole = (await (await ls.request(target)).json()).entries;
    for (let limit = 1; limit <= whole.length; limit++) {
      const paged = await pages(target, limit);
      const paths = paged.entries.map((e: any) => e.path);
      assert.is(new Set(paths).size, paths.length, `${target} limit=${limit}: duplicates in ${paths.join(' ')}`);
      assert.equal(paths, whole.map((e: any) => e.path), `${target} limit=${limit}`);
    }
  }
});

listing('limit=0, limit=abc and limit=999999 are clamped, not refused', async () => {
  const zero = await ls.request('/files/?recursive=true&limit=0');
  assert.is(zero.status, 200);
  const z = await zero.json();
  assert.is(z.entries.length, 1);
  assert.ok(z.next_cursor !== '');
  for (const limit of ['abc', '999999', '-3']) {
    const res = await ls.request(`/files/?recursive=true&limit=${limit}`);
    assert.is(res.status, 200, limit);
    const page = await res.json();
    assert.ok(page.entries.length >= 1, limit);
    if (limit !== '-3') assert.is(page.entries.length, ALL.length, limit);
  }
});

listing('a bad cursor is 400; a missing folder 404; a file as folder 409', async () => {
  await errorOf(await ls.request('/files/?cursor=not-a-cursor!!'), 400, 'bad_request');
  await errorOf(await ls.request('/files/?recursive=true&cursor=%7B%7D'), 400, 'bad_request');
  await errorOf(await ls.request('/files/nope/'), 404, 'not_found');
  await errorOf(await ls.request('/files/r0.txt/'), 409, 'conflict');
});

listing.run();

// ---

const revisions = suite('GET /revisions/{path}');
let rv: InProcessNode;
revisions.before(async () => {
  rv = await inProcessNode();
});
revisions.after(() => rv.close());

revisions('newest first, without the current version, at most 10 after 15 overwrites', async () => {
  const versions: any[] = [];
  for (let i = 0; i <= 15; i++) versions.push(await (await put(rv, 'r.txt', `content ${i}`)).json());
  const res = await rv.request('/revisions/r.txt');
  assert.is(res.status, 200);
  const { revisions: kept } = await res.json();
  assert.is(kept.length, 10);
  assert.equal(kept.map((r: any) => r.version), versions.slice(5, 15).reverse().map((r) => r.version));
  assert.not.ok(kept.some((r: any) => r.version === versions[15].version), 'the current version is not a revision');
  for (const r of kept) {
    for (const f of FIELDS) assert.ok(f in r, `revision has ${f}`);
    const got = await rv.request(`/files/r.txt?version=${encodeURIComponent(r.version)}`);
    assert.is(got.status, 200);
    assert.is(sha256(await bytes(got)), r.sha256, r.version);
  }
  for (const pruned of versions.slice(0, 5)) {
    await errorOf(await rv.request(`/files/r.txt?version=${encodeURIComponent(pruned.version)}`), 404, 'not_found');
  }
  const revFiles = readdirSync(join(rv.dataDir, '.nuvem', 'revs'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  assert.is(revFiles.length, 10, 'pruned revisions leave no content behind');
});

revisions('a deleted file keeps its last version as a revision; unknown paths are 404', async () => {
  const v = await (await put(rv, 'del.txt', 'last words')).json();
  await rv.request('/files/del.txt', { method: 'DELETE' });
  const { revisions: kept } = await (await rv.request('/revisions/del.txt')).json();
  assert.is(kept[0].version, v.version);
  await errorOf(await rv.request('/revisions/never.txt'), 404, 'not_found');
});

revisions.run();

// ---

const changes = suite('GET /changes');
let ch: InProcessNode;
changes.before(async () => {
  ch = await inProcessNode();
});
changes.after(() => ch.close());

changes('the feed from the beginning, then since a cursor', async () => {
  const empty = await (await ch.request('/changes')).json();
  assert.equal(empty.changes, []);
  await put(ch, 'c/one.txt', '1');
  await put(ch, 'c/two.txt', '2');
  await ch.request('/files/c/one.txt', { method: 'DELETE' });
  await ch.request('/files/c/dir', { method: 'MKCOL' });
  await ch.request('/files/c/two.txt', { method: 'MOVE', headers: { destination: '/files/c/three.txt' } });
  const all = await (await ch.request('/changes?since=')).json();
  assert.type(all.cursor, 'string');
  assert.equal(all.changes.map((c: any) => [c.op, c.path]), [
    ['put', 'c/one.txt'], ['put', 'c/two.txt'], ['delete', 'c/one.txt'], ['mkcol', 'c/dir'], ['move', 'c/three.txt'],
  ]);
  assert.is(all.changes[2].deleted, true);
  assert.is(all.changes[4].from, 'c/two.txt');
  const seqs = all.changes.map((c: any) => c.seq);
  assert.equal(seqs, [...seqs].sort((a: number, b: number) => a - b));
  assert.is(new Set(seqs).size, seqs.length);
  const after = await (await ch.request(`/changes?since=${all.cursor}`)).json();
  assert.equal(after.changes, []);
  assert.is(after.cursor, all.cursor);
  await put(ch, 'c/four.txt', '4');
  const next = await (await ch.request(`/changes?since=${all.cursor}`)).json();
  assert.equal(next.changes.map((c: any) => c.path), ['c/four.txt']);
});

changes('limit pages through the feed with each change once', async () => {
  const whole = await (await ch.request('/changes')).json();
  const seen: any[] = [];
  let cursor = '';
  for (let i = 0; i < 50; i++) {
    const page = await (await ch.request(`/changes?since=${cursor}&limit=2`)).json();
    assert.ok(page.changes.length <= 2);
    if (page.changes.length === 0) break;
    seen.push(...page.changes);
    cursor = page.cursor;
  }
  assert.equal(seen, whole.changes);
  await errorOf(await ch.request('/changes?since=abc'), 400, 'bad_request');
  await errorOf(await ch.request('/changes?wait=-1'), 400, 'bad_request');
});

changes('wait= long-polls and returns early when a change arrives', async () => {
  const { cursor } = await (await ch.request('/changes')).json();
  const started = Date.now();
  const timer = setTimeout(() => void put(ch, 'c/late.txt', 'late'), 200);
  const res = await ch.request(`/changes?since=${cursor}&wait=10`);
  const took = Date.now() - started;
  clearTimeout(timer);
  const page = await res.json();
  assert.equal(page.changes.map((c: any) => c.path), ['c/late.txt']);
  assert.ok(took >= 150 && took < 3000, `returned after ${took} ms (wait was 10 s)`);
  const quiet = Date.now();
  const none = await (await ch.request(`/changes?since=${page.cursor}&wait=0.3`)).json();
  assert.equal(none.changes, []);
  assert.ok(Date.now() - quiet >= 250, 'waited when nothing changed');
});

changes.run();

// ---

const misc = suite('status, health, metrics, unknown routes and methods');
let ms: InProcessNode;
misc.before(async () => {
  ms = await inProcessNode();
});
misc.after(() => ms.close());

misc('/status has the heartbeat fields', async () => {
  await put(ms, 's.txt', '12345');
  const res = await ms.request('/status');
  assert.is(res.status, 200);
  const s = await res.json();
  assert.is(s.id, ms.id);
  assert.is(s.state, 'online');
  for (const f of ['url', 'ts', 'startedAt', 'heartbeatMs', 'seq', 'applied', 'lag', 'files', 'bytes', 'disk', 'inflight', 'version']) {
    assert.ok(f in s, `status has ${f}`);
  }
  assert.type(s.ts, 'number');
  assert.ok(s.seq >= 1);
  assert.is(s.applied[ms.id], s.seq);
  assert.type(s.disk.free, 'number');
  assert.type(s.disk.total, 'number');
});

misc('/health is 200; /metrics is Prometheus text with nuvem_http_requests_total', async () => {
  const health = await ms.request('/health');
  assert.is(health.status, 200);
  assert.is((await health.json()).status, 'ok');
  await ms.request('/files/s.txt');
  const metrics = await ms.request('/metrics');
  assert.is(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await metrics.text();
  assert.match(text, /# TYPE nuvem_http_requests_total counter/);
  assert.match(text, /^nuvem_http_requests_total\{method="GET",code="200"\} \d+$/m);
  assert.match(text, /^nuvem_http_requests_total\{method="PUT",code="201"\} \d+$/m);
});

misc('/health is 503 JSON with Retry-After once the node is stopping', async () => {
  const stopping = await inProcessNode();
  await stopping.close();
  const res = await stopping.app.request('/health');
  assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
  const body = await errorOf(res, 503, 'unavailable');
  assert.is(body.status, 'unavailable');
});

misc('an unknown method on /files is 405 JSON with Allow', async () => {
  for (const method of ['PATCH', 'PROPFIND', 'POST']) {
    const res = await ms.request('/files/s.txt', { method });
    const allow = res.headers.get('allow') ?? '';
    for (const m of ['GET', 'PUT', 'DELETE', 'MOVE', 'MKCOL']) assert.ok(allow.includes(m), `${method}: Allow "${allow}" has ${m}`);
    await errorOf(res, 405, 'method_not_allowed');
  }
  assert.equal((await current(ms, 's.txt')).body, Buffer.from('12345'));
});

misc('an unknown route is 404 JSON', async () => {
  await errorOf(await ms.request('/nope'), 404, 'not_found');
  await errorOf(await ms.request('/files-and-more/x'), 404, 'not_found');
});

misc.run();

// ---

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
  ['GET', '/'],
  ['PATCH', '/files/secret.txt'],
  ['GET', '/no-such-route'],
];

auth('every route but /health is 401 JSON without the token or with a wrong one', async () => {
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
    'GET /revisions/secret.txt': 200, 'GET /changes': 200, 'GET /status': 200, 'GET /metrics': 200, 'GET /': 200,
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

auth.run();
