/**
 * DELETE /files/{path}: files, If-Match, folders (?recursive=true), and
 * nested folders that vanish with their last file.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { put, bytes, errorOf, current } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

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
