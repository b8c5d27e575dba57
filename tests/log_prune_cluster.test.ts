/**
 * Catch-up past a pruned log, across three node processes keeping 5 log
 * entries (`--changes-keep 5`): node-3 is restored from an old copy of its
 * data folder after the others pruned, below what every member had applied,
 * the changes it lacks. Their `/internal/log` answers 410; node-3 repairs
 * from them by digests instead, ends with the same records and bytes, and
 * its applied vector catches up (lag 0), so catch-up stops asking and the
 * purge is no longer held back by it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster } from './_support/cluster.ts';
import { until } from './_support/sleep.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const pruned = suite('catch-up past a pruned log');
let cluster: Cluster;
let copies: TempDir;

pruned.before(async () => {
  copies = tempDir('log-prune-copy');
  cluster = await startCluster({ nodes: 3, antiEntropyMs: 1000, nodeArgs: ['--changes-keep', '5'], label: 'log-prune' });
});

pruned.after(async () => {
  await cluster?.close();
  copies?.cleanup();
});

const appliedOf = async (k: number): Promise<Record<string, number>> => (await cluster.request(k, '/status')).json.applied;

// ---

pruned('a node restored from an old copy of its data folder repairs by digests, and its applied vector catches up', async () => {
  for (let i = 0; i < 4; i++) assert.is((await cluster.put(1, `early/${i}.txt`, `early ${i}`, { w: 'auto' })).status, 201);
  await cluster.waitConverged({ timeoutMs: 20_000 });
  await cluster.kill(3);
  const copy = join(copies.path, 'node-3');
  cpSync(cluster.dataDir(3), copy, { recursive: true });
  const old = (await cluster.request(1, '/status')).json.seq as number;
  await cluster.restart(3);
  await cluster.waitMesh();

  for (let i = 0; i < 20; i++) assert.is((await cluster.put(1 + (i % 2), `late/${i}.txt`, `late ${i}`, { w: 'auto' })).status, 201);
  assert.is((await cluster.remove(2, 'early/0.txt', { w: 'auto' })).status, 204);
  await until('nodes 1 and 2 pruned node-1\'s changes node-3\'s copy lacks', async () => {
    for (const k of [1, 2]) if ((await cluster.request(k, `/internal/log?origin=node-1&after=${old}`)).status !== 410) return false;
    return true;
  }, 20_000);

  await cluster.kill(3);
  rmSync(cluster.dataDir(3), { recursive: true, force: true });
  cpSync(copy, cluster.dataDir(3), { recursive: true });
  await cluster.restart(3);
  assert.ok(((await appliedOf(3))['node-1'] ?? 0) <= old, 'node-3 starts from its old copy');
  const listing = await cluster.waitConverged({ timeoutMs: 30_000 });
  assert.not.ok(listing.some((r) => r.path === 'early/0.txt'), 'the delete reached node-3 too');
  assert.is(listing.filter((r) => r.path.startsWith('late/')).length, 20);
  const { ms } = await until('node-3\'s applied vector caught up with nodes 1 and 2', async () => {
    const [a1, a2, a3] = await Promise.all(cluster.ks.map(appliedOf));
    return a3['node-1'] === a1['node-1'] && a3['node-2'] === a2['node-2'] && (await cluster.request(3, '/status')).json.lag === 0;
  }, 30_000);
  console.log(`\n  (node-3 caught up ${Math.round(ms)} ms after its records converged)`);
  assert.ok((await cluster.metric(3, 'nuvem_catch_up_runs_total')) > 0);
});

pruned.run();
