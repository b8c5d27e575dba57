/**
 * GET /revisions/{path}: the kept revisions of a file.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256 } from './_support/bytes.ts';
import { FIELDS, put, bytes, errorOf } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

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
  // Small files keep their bytes in the index (DESIGN.md section 3): 10 revisions and the current version.
  const revFiles = readdirSync(join(rv.dataDir, '.nuvem', 'revs'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  assert.is(revFiles.length + rv.store.index.blobCount(), 11, 'pruned revisions leave no content behind');
});

revisions('a deleted file keeps its last version as a revision; unknown paths are 404', async () => {
  const v = await (await put(rv, 'del.txt', 'last words')).json();
  await rv.request('/files/del.txt', { method: 'DELETE' });
  const { revisions: kept } = await (await rv.request('/revisions/del.txt')).json();
  assert.is(kept[0].version, v.version);
  await errorOf(await rv.request('/revisions/never.txt'), 404, 'not_found');
});

revisions.run();
