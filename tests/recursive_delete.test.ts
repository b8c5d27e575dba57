/**
 * A recursive delete commits its tombstones in batches (nodes/writes.ts):
 * every entry of the folder, folders made with MKCOL included, ends up a
 * tombstone, whatever the batch boundaries, and the folder leaves nothing on disk.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realNode } from './_support/real_node.ts';

test('a recursive delete of 1,200 files in MKCOL folders across batches leaves tombstones for all and nothing on disk', async () => {
  const { node, close } = await realNode();
  const u = node.url;
  try {
    assert.is((await fetch(`${u}/files/top/sub`, { method: 'MKCOL' })).status, 201);
    assert.is((await fetch(`${u}/files/top/empty`, { method: 'MKCOL' })).status, 201);
    for (let i = 0; i < 1200; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) =>
        fetch(`${u}/files/top/${(i + j) % 2 ? 'sub/' : ''}f${i + j}`, { method: 'PUT', body: `file ${i + j}` }).then((r) => assert.is(r.status, 201))));
    }
    const res = await fetch(`${u}/files/top?recursive=true`, { method: 'DELETE' });
    assert.is(res.status, 204, await res.text());
    const listed = await (await fetch(`${u}/files/?recursive=true`)).json();
    assert.equal(listed.entries, []);
    for (const p of ['top/f0', 'top/sub/f1', 'top/sub', 'top/empty']) assert.is(node.store.get(p)?.deleted, true, p);
    const files = join(node.store.dataDir, 'files');
    assert.not.ok(existsSync(join(files, 'top')), `left on disk: ${readdirSync(files, { recursive: true }).join(', ')}`);
  } finally {
    await close();
  }
});

test.run();
