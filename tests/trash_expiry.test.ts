/**
 * After the trash period (here `--trash-days 0.00005`, 4.3 s), a deleted
 * file's tombstone, revisions and their bytes leave every node: deleting
 * frees disk. Measured on the revisions store itself (files and bytes under
 * `DATA/.nuvem/revs/`) and the index's tombstone count.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster } from './_support/cluster.ts';
import { until } from './_support/sleep.ts';

const TRASH_DAYS = 0.00005;
const TRASH_MS = TRASH_DAYS * 86_400_000;

const expiry = suite('trash expiry in a cluster');
let cluster: Cluster;

expiry.before(async () => {
  cluster = await startCluster({ nodes: 3, antiEntropyMs: 1000, nodeArgs: ['--trash-days', String(TRASH_DAYS)], label: 'trash-expiry' });
});

expiry.after(async () => {
  await cluster?.close();
});

/** Files and bytes in node k's revisions store. */
function revs(k: number): { files: number; bytes: number } {
  const dir = join(cluster.dataDir(k), '.nuvem', 'revs');
  let files = 0;
  let bytes = 0;
  for (const d of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, d))) {
      files++;
      bytes += statSync(join(dir, d, f)).size;
    }
  }
  return { files, bytes };
}

// ---

expiry('deleted files stay restorable for the trash period, then their tombstones, revisions and bytes leave every node', async () => {
  const n = 12;
  const size = 256 * 1024;
  const before = cluster.ks.map(revs);
  for (let i = 0; i < n; i++) {
    const path = `big/f${i}.bin`;
    assert.is((await cluster.put(1 + (i % 3), path, Buffer.alloc(size, `a${i}`), { w: 'auto' })).status, 201);
    assert.is((await cluster.put(1 + (i % 3), path, Buffer.alloc(size, `b${i}`), { w: 'auto' })).status, 200);
  }
  assert.is((await cluster.request(1, '/files/big?recursive=true&w=auto', { method: 'DELETE' })).status, 204);
  const deletedAt = Date.now();
  // In the trash: listed, and two versions of each kept on every node.
  for (const k of cluster.ks) {
    const listed = (await cluster.request(k, '/trash/big')).json.entries;
    if (Date.now() - deletedAt < TRASH_MS - 1000) assert.is(listed.length, n, `${cluster.id(k)} lists the deleted files`);
    const r = revs(k);
    assert.ok(r.bytes - before[k - 1].bytes >= 2 * n * size, `${cluster.id(k)} keeps both versions: ${JSON.stringify(r)}`);
  }
  const { ms } = await until('the revisions store emptied of them on every node', () =>
    cluster.ks.every((k) => revs(k).bytes <= before[k - 1].bytes), 30_000);
  console.log(`\n  (revisions dropped on all three nodes ${Math.round(ms)} ms after the DELETE, trash period ${TRASH_MS} ms)`);
  assert.ok(Date.now() - deletedAt >= TRASH_MS, 'not before the trash period is over');
  await until('the tombstones purged on every node', async () => {
    for (const k of cluster.ks) if ((await cluster.metric(k, 'nuvem_tombstones')) !== 0) return false;
    return true;
  }, 20_000);
  for (const k of cluster.ks) {
    assert.equal((await cluster.request(k, '/trash/')).json.entries, [], `${cluster.id(k)}: out of the trash`);
    const restore = await cluster.request(k, '/trash/big', { method: 'POST' });
    assert.is(restore.status, 404, `${cluster.id(k)}: nothing left to restore`);
    assert.is((await cluster.request(k, '/revisions/big/f0.bin')).status, 404);
    assert.ok((await cluster.metric(k, 'nuvem_trash_expired_total')) + (await cluster.metric(k, 'nuvem_tombstones_purged_total')) > 0);
  }
});

expiry.run();
