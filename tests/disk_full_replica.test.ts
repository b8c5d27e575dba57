/**
 * A replica whose disk is full (a real tmpfs under its data folder) cannot
 * apply its origin's changes: it answers nothing wrong, keeps serving, and
 * applies them (and those queued behind them in the origin's lane) once
 * space is freed, by itself (catch-up), with no restart.
 */
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster } from './_support/cluster.ts';
import { until } from './_support/sleep.ts';
import { mountTmpfs, tmpfsUnavailable } from './_support/tmpfs.ts';

const unavailable = tmpfsUnavailable();
if (unavailable) console.log(`  disk_full_replica: skipped, no tmpfs (${unavailable})`);

test('changes a replica could not apply for a full disk arrive once space is freed; the origin\'s lane does not stall', async () => {
  if (unavailable) return;
  const cluster = await startCluster({ nodes: 2, heartbeatMs: 250, label: 'full-replica' });
  const fs = mountTmpfs({ mib: 16, label: 'full-replica' });
  try {
    // Node 2's data folder moves onto the small volume.
    await cluster.kill(2);
    execFileSync('cp', ['-a', `${cluster.dataDir(2)}/.`, fs.path]);
    execFileSync('mount', ['--bind', fs.path, cluster.dataDir(2)]);
    await cluster.restart(2);
    await cluster.waitMesh();
    fs.fill({ leaveBytes: 1 << 20 });
    const big = new Uint8Array(3 << 20).fill(7);
    assert.is((await cluster.put(1, 'big.bin', big, { w: 1 })).status, 201);
    for (let i = 0; i < 3; i++) assert.is((await cluster.put(1, `after-${i}.txt`, `after ${i}`, { w: 1 })).status, 201);
    // Node 2 tries, fails for space, and keeps serving.
    await until('node 2 tried and failed', async () => cluster.logs(2, 200).includes('ENOSPC') || cluster.logs(2, 200).includes('disk is full'), 15_000);
    assert.is((await cluster.get(2, 'big.bin')).status, 404);
    fs.unfill();
    await until('node 2 has every change', async () => {
      const got = await cluster.get(2, 'big.bin');
      const last = await cluster.get(2, 'after-2.txt');
      return got.status === 200 && last.status === 200;
    }, 30_000).catch(async (err) => {
      const status = async (k: number) => JSON.stringify((await (await fetch(cluster.url(k) + '/status')).json()).applied);
      const held = await Promise.all(['big.bin', 'after-0.txt', 'after-2.txt'].map(async (p) => `${p} ${(await cluster.get(2, p)).status}`));
      console.log((await cluster.get(2, 'big.bin')).body.toString(), execFileSync('ls', ['-laiR', cluster.dataDir(2) + '/files']).toString());
      console.log(`node 2 applied ${await status(2)}, node 1 ${await status(1)}; node 2 holds ${held.join(', ')}\n${cluster.logs(2, 80)}`);
      throw err;
    });
    assert.is(sha256((await cluster.get(2, 'big.bin')).body), sha256(big));
    for (let i = 0; i < 3; i++) assert.is((await cluster.get(2, `after-${i}.txt`)).body.toString(), `after ${i}`);
    assert.equal(cluster.crashes(), []);
  } finally {
    if (cluster.running(2)) await cluster.kill(2);
    execFileSync('umount', ['-l', cluster.dataDir(2)]);
    fs.cleanup();
    await cluster.close();
  }
});

test.run();
