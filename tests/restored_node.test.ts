/**
 * A node restored from an older copy of its data folder (DESIGN.md 7: changes
 * matched by origin, seq and version): it gives again seqs its peers have
 * applied already. Its new writes must still reach every peer, and nothing
 * acknowledged before the restore is lost: the writes the copy does not hold
 * come back to it from its peers.
 *
 * node-1's data folder is copied while it is stopped, node-1 writes more,
 * stops, gets the copy back, and starts: first with the broker down (its new
 * writes cannot be announced; only anti-entropy brings them over), then with
 * the broker up (notices with reused seqs).
 */
import { cpSync, rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { tempDir } from './_support/temp.ts';

const restored = suite('restored node');
let cluster: Cluster | undefined;
const backup = tempDir('restored-backup');

restored.after(async () => {
  await cluster?.close();
  backup.cleanup();
});

// ---

restored('a node restored from an old copy of its data folder: its new writes with reused seqs reach its peers, and nothing acknowledged is lost', async () => {
  cluster = await startCluster({ nodes: 3, antiEntropyMs: 1000, label: 'restored' });
  const c = cluster;
  const acked = new Map<string, string>();
  const write = async (k: number, path: string, w: string | number) => {
    const body = `${path} written on node-${k}`;
    const res = await c.put(k, path, body, { w });
    assert.ok(res.status === 201 || res.status === 200, `PUT ${path} on node-${k}: ${res.status} ${res.body.toString()}`);
    acked.set(path, sha256(body));
    return res.json.seq as number;
  };

  for (let i = 0; i < 3; i++) await write(1, `before/copy-${i}.txt`, 'auto');
  await c.kill(1);
  cpSync(c.dataDir(1), backup.path + '/data', { recursive: true });
  await c.restart(1);
  await c.waitMesh();
  let lastSeq = 0;
  for (let i = 0; i < 4; i++) lastSeq = await write(1, `after/copy-${i}.txt`, 'auto');
  await c.waitConverged();
  await c.kill(1);

  // The copy comes back, and node-1 starts with no broker: its writes get seqs 4, 5, … again.
  rmSync(c.dataDir(1), { recursive: true, force: true });
  cpSync(backup.path + '/data', c.dataDir(1), { recursive: true });
  await c.stopBroker();
  await c.restart(1);
  const reused = [];
  for (let i = 0; i < 2; i++) reused.push(await write(1, `restored/offline-${i}.txt`, 1));
  assert.ok(reused[0] <= lastSeq, `node-1 restored gave seq ${reused[0]} again (its peers applied up to ${lastSeq})`);
  await c.startBroker();
  await c.waitMesh({ timeoutMs: 20_000 });
  // With the broker back: notices, perhaps with reused seqs too.
  for (let i = 0; i < 3; i++) await write(1, `restored/online-${i}.txt`, 'auto');
  for (let i = 0; i < 2; i++) await write(2, `restored/peer-${i}.txt`, 'auto');

  const listing = await c.waitConverged({ timeoutMs: 30_000 });
  const listed = new Map(listing.map((r) => [r.path, r.sha256]));
  const lost = [...acked].filter(([path, sha]) => listed.get(path) !== sha).map(([path]) => path);
  assert.equal(lost, [], 'every acknowledged write is on every node');
  // Later writes of node-1 still reach the others in order.
  const last = await c.put(1, 'restored/last.txt', 'last', { w: 'auto' });
  assert.is(last.status, 201);
  assert.ok(last.json.seq > lastSeq, `node-1 took seqs after those its peers had (${last.json.seq} > ${lastSeq})`);
  for (const k of [2, 3]) assert.is((await c.get(k, 'restored/last.txt')).body.toString(), 'last');
  assert.equal(c.crashes(), []);
});

restored.run();
