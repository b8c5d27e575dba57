/**
 * Tombstone purge across three node processes (anti-entropy every second): a
 * tombstone leaves every node's index once all three have applied it, and not
 * before — a node killed before the delete holds the purge back until it is
 * restarted and has applied the delete. The file stays 404 on every node
 * that applied the delete, and nothing brings it, or its tombstone, back.
 * The nodes run without a trash (`--trash-days 0`), so the deleted
 * version's revision goes with the tombstone.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, type Cluster } from './_support/cluster.ts';
import { bucketOf } from '../protocol/digest_buckets.ts';
import { sleep } from './_support/sleep.ts';

const PASS_MS = 1000;

const purge = suite('purge in a cluster');
let cluster: Cluster;

purge.before(async () => {
  // No trash (--trash-days 0): a tombstone may go as soon as every member holds it (trash_expiry.test.ts has the trash).
  cluster = await startCluster({ nodes: 3, antiEntropyMs: PASS_MS, nodeArgs: ['--trash-days', '0'], label: 'purge' });
});

purge.after(async () => {
  await cluster?.close();
});

/** Node k's record of `path`, tombstones included, from its anti-entropy bucket (undefined: none). */
async function recordOn(k: number, path: string): Promise<{ version: string; deleted: boolean } | undefined> {
  const res = await cluster.request(k, `/internal/digest/${bucketOf(path)}`);
  assert.is(res.status, 200, `${cluster.id(k)} /internal/digest: ${res.body.toString()}`);
  return res.json.records.find((r: { path: string }) => r.path === path);
}

/** GET `path` is 404 on every node in `ks`, and no listing shows it. */
async function assertGone(ks: number[], path: string, when: string): Promise<void> {
  for (const k of ks) {
    const res = await cluster.get(k, path);
    assert.is(res.status, 404, `${when}: GET ${path} on ${cluster.id(k)} answered ${res.status}`);
    const listed = (await cluster.list(k)).some((r) => r.path === path);
    assert.not.ok(listed, `${when}: ${cluster.id(k)} lists ${path}`);
  }
}

/** Runs `step` (which may assert along the way) until it returns true; returns the ms taken, fails after `timeoutMs`. */
async function until(what: string, timeoutMs: number, step: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await step())) {
    if (Date.now() - t0 > timeoutMs) assert.unreachable(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - t0;
}

const purgedTotal = (k: number) => cluster.metric(k, 'nuvem_tombstones_purged_total');

// ---

purge('once all three nodes applied a DELETE, the tombstone leaves every index within a couple of passes, for good', async () => {
  const path = 'purge/once.txt';
  assert.is((await cluster.put(1, path, 'short-lived', { w: 'auto' })).status, 201);
  const before = await Promise.all(cluster.ks.map(purgedTotal));
  const del = await cluster.remove(2, path, { w: 'auto' });
  assert.is(del.status, 204, del.body.toString());
  await assertGone(cluster.ks, path, 'right after the DELETE');
  const ms = await until('the tombstone purged on every node', 10 * PASS_MS, async () => {
    await assertGone(cluster.ks, path, 'while purging');
    const records = await Promise.all(cluster.ks.map((k) => recordOn(k, path)));
    for (const r of records) if (r) assert.ok(r.deleted, `a live record came back: ${JSON.stringify(r)}`);
    return records.every((r) => r === undefined);
  });
  console.log(`\n  (tombstone purged on all three nodes ${ms} ms after the DELETE answered)`);
  // Three more passes: nothing brings the file or its tombstone back, and each node purged it once.
  await sleep(3 * PASS_MS);
  await assertGone(cluster.ks, path, 'three passes after the purge');
  for (const k of cluster.ks) {
    assert.is(await recordOn(k, path), undefined, `${cluster.id(k)} holds a record of ${path} again`);
    assert.is(await purgedTotal(k), before[k - 1] + 1, `${cluster.id(k)} nuvem_tombstones_purged_total`);
    assert.is(await cluster.metric(k, 'nuvem_tombstones'), 0, `${cluster.id(k)} nuvem_tombstones`);
    assert.is((await cluster.request(k, `/revisions/${path}`)).status, 404, `${cluster.id(k)} keeps no revision of a path out of the trash`);
  }
});

purge('with a node killed before the DELETE, the others keep the tombstone until it is back and has applied it; then all purge it', async () => {
  const path = 'purge/held.txt';
  assert.is((await cluster.put(1, path, 'wait for node-3', { w: 'auto' })).status, 201);
  await cluster.kill(3);
  const before = await Promise.all([1, 2].map(purgedTotal));
  const del = await cluster.remove(1, path);
  assert.is(del.status, 204, del.body.toString());
  const tomb = await recordOn(1, path);
  assert.ok(tomb?.deleted, `node-1 holds the tombstone: ${JSON.stringify(tomb)}`);

  // Four passes with node-3 down: nodes 1 and 2 keep the tombstone.
  const t0 = Date.now();
  while (Date.now() - t0 < 4 * PASS_MS) {
    for (const k of [1, 2]) assert.equal(await recordOn(k, path), tomb, `${cluster.id(k)} with node-3 down`);
    await assertGone([1, 2], path, 'with node-3 down');
    await sleep(200);
  }
  for (const [i, k] of [1, 2].entries()) assert.is(await purgedTotal(k), before[i], `${cluster.id(k)} purged nothing with node-3 down`);

  await cluster.restart(3);
  await cluster.waitMesh();
  // node-3 still had the file; once it applied the DELETE, every node must answer 404 from then on.
  await until('node-3 applying the DELETE', 20_000, async () => (await cluster.get(3, path)).status === 404);
  const ms = await until('the tombstone purged on every node', 20_000, async () => {
    await assertGone(cluster.ks, path, 'after node-3 applied the DELETE');
    const records = await Promise.all(cluster.ks.map((k) => recordOn(k, path)));
    for (const r of records) if (r) assert.equal(r, tomb, 'only the tombstone, until it goes');
    return records.every((r) => r === undefined);
  });
  console.log(`\n  (purged on all three nodes ${ms} ms after node-3 applied the DELETE)`);
  await sleep(3 * PASS_MS);
  await assertGone(cluster.ks, path, 'three passes after the purge');
  for (const k of cluster.ks) {
    assert.is(await recordOn(k, path), undefined, `${cluster.id(k)} holds a record of ${path} again`);
    assert.is((await cluster.request(k, `/revisions/${path}`)).status, 404, `${cluster.id(k)} keeps no revision of a path out of the trash`);
  }
  for (const [i, k] of [1, 2].entries()) assert.is(await purgedTotal(k), before[i] + 1, `${cluster.id(k)} nuvem_tombstones_purged_total`);
  assert.is(await purgedTotal(3), 1, 'node-3 (restarted, counting from 0) nuvem_tombstones_purged_total');
});

purge.run();
