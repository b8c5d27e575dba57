/**
 * MOVE /files/{path}: files and folders to a Destination, Overwrite, and
 * bad moves.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';
import { put, errorOf, current } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

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
