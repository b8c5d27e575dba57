/**
 * The broker makes replication fast; it is not what makes it correct (DESIGN.md
 * section 4): with the broker killed, nodes keep accepting `w=1` writes, and
 * anti-entropy over HTTP converges them while the broker is still down; with
 * the broker back on the same port they stay converged and change notices flow
 * again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom } from './_support/bytes.ts';
import { sha256, startCluster, type Cluster, type ListedRecord } from './_support/cluster.ts';

const outage = suite('broker outage');
let cluster: Cluster;
/** What the writes made while the broker was down should leave: path → sha256 (undefined: gone). */
const expected = new Map<string, string | undefined>();
let convergedWithoutBroker: ListedRecord[] | undefined;

outage.before(async () => {
  cluster = await startCluster({ nodes: 3, antiEntropyMs: 1000, label: 'outage' });
});

outage.after(async () => {
  await cluster?.close();
});

const key = (r: ListedRecord) => `${r.path} ${r.version} ${r.sha256}`;

// ---

outage('with the broker killed, w=1 writes, deletes and moves keep succeeding on every node', async () => {
  // Some files every node holds before the outage.
  for (const name of ['keep', 'gone', 'moving']) {
    const res = await cluster.put(1, `before/${name}.bin`, randomBytesFrom(name.length, 5000));
    assert.is(res.status, 201);
    expected.set(`before/${name}.bin`, res.json.sha256);
  }
  await cluster.stopBroker();
  for (const k of cluster.ks) {
    for (let i = 0; i < 5; i++) {
      const body = randomBytesFrom(100 * k + i, 1000 + 3000 * i);
      const path = `outage/n${k}/f${i}.bin`;
      const res = await cluster.put(k, path, body, { w: 1 });
      assert.is(res.status, 201, `PUT ${path} on ${cluster.id(k)} without a broker: ${res.status} ${res.body.toString()}`);
      assert.ok(res.ms < 2000, `PUT on ${cluster.id(k)} without a broker took ${res.ms.toFixed(0)} ms`);
      expected.set(path, sha256(body));
    }
  }
  const del = await cluster.remove(2, 'before/gone.bin', { w: 1 });
  assert.is(del.status, 204);
  expected.set('before/gone.bin', undefined);
  const mv = await cluster.move(3, 'before/moving.bin', 'outage/moved.bin', { w: 1 });
  assert.is(mv.status, 201, mv.body.toString());
  expected.set('outage/moved.bin', expected.get('before/moving.bin'));
  expected.set('before/moving.bin', undefined);
  const over = await cluster.put(1, 'outage/n2/f0.bin', 'overwritten on node-1', { w: 1 });
  assert.ok(over.status === 200 || over.status === 201, `${over.status} ${over.body.toString()}`);
  expected.set('outage/n2/f0.bin', sha256('overwritten on node-1'));
  assert.ok(!cluster.brokerRunning());
});

outage('anti-entropy converges the nodes while the broker is still down', async () => {
  if (cluster.brokerRunning()) await cluster.stopBroker();
  const t0 = Date.now();
  const listing = await cluster.waitConverged({ timeoutMs: 20_000 });
  console.log(`\n  (converged without the broker in ${Date.now() - t0} ms)`);
  assert.ok(!cluster.brokerRunning(), 'the broker stayed down');
  for (const [path, sha] of expected) {
    assert.is(listing.find((r) => r.path === path)?.sha256, sha, `${path} after convergence`);
  }
  convergedWithoutBroker = listing;
});

outage('with the broker back on the same port, the nodes stay converged and new writes replicate through it again', async () => {
  if (!cluster.brokerRunning()) await cluster.startBroker();
  await cluster.waitMesh({ timeoutMs: 15_000 });
  const listing = await cluster.waitConverged({ timeoutMs: 10_000 });
  if (convergedWithoutBroker) {
    assert.equal(listing.map(key).sort(), convergedWithoutBroker.map(key).sort(), 'reconnecting changed nothing');
  }
  // w=all needs every node's ack over MQTT: only a working broker gives it in time.
  for (const k of cluster.ks) {
    const body = randomBytesFrom(7000 + k, 12_345);
    const path = `after/n${k}.bin`;
    const res = await cluster.put(k, path, body, { w: 'all' });
    assert.is(res.status, 201, `PUT w=all on ${cluster.id(k)} after the broker came back: ${res.status} ${res.body.toString()}`);
    assert.equal([...res.json.replicas].sort(), ['node-1', 'node-2', 'node-3']);
    for (const j of cluster.ks) {
      const got = await cluster.get(j, path);
      assert.is(got.status, 200, `${cluster.id(j)} has ${path} at once`);
      assert.is(sha256(got.body), sha256(body));
    }
  }
  await cluster.waitConverged({ timeoutMs: 10_000 });
});

outage.run();
