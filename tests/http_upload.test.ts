/**
 * PUT /files/{path}: new and replaced files, conditional writes (If-Match,
 * If-None-Match), Content-Digest, Content-Type, write concern, and conflicts.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { contentDigest, EMPTY_SHA256, randomBytesFrom, sha256 } from './_support/bytes.ts';
import { FIELDS, put, bytes, errorOf, current, tmpEntries } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

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
