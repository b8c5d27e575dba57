/** Catch-up is counted in /metrics: a node that comes back pulls what it missed from a peer's log. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster } from './_support/cluster.ts';
import { until } from './_support/sleep.ts';

test('a restarted node counts its catch-up runs and the changes they brought', async () => {
  const cluster = await startCluster({ nodes: 2, label: 'catch-up-metrics' });
  try {
    await cluster.waitMesh();
    await cluster.kill(2);
    for (let i = 0; i < 5; i++) assert.is((await cluster.put(1, `missed/${i}.txt`, `missed ${i}`, { w: 1 })).status, 201);
    await cluster.restart(2);
    await until('node-2 caught up', async () => sha256((await cluster.get(2, 'missed/4.txt')).body) === sha256('missed 4'), 20_000);
    // The counter moves once a whole log page is applied, which may end after
    // the last file is readable (or after anti-entropy, run at start, brought it).
    await until('nuvem_catch_up_changes_total counts the 5 changes', async () => (await cluster.metric(2, 'nuvem_catch_up_changes_total')) >= 5, 20_000);
    assert.ok((await cluster.metric(2, 'nuvem_catch_up_runs_total')) >= 1);
  } finally {
    await cluster.close();
  }
});

test.run();
