/**
 * MKCOL /files/{path}: empty folders.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { put, errorOf } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

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
