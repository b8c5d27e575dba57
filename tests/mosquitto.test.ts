/**
 * Any MQTT 3.1.1 broker can stand in for the embedded one (DESIGN.md section
 * 4): the core of the replication suite against a real Mosquitto, started by
 * the test on a free loopback port. Skipped, saying so, when Mosquitto is not
 * installed; with NUVEM_REQUIRE_MOSQUITTO=1 (CI) a missing Mosquitto fails.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom } from './_support/bytes.ts';
import { findMosquitto, sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { skipped } from './_support/skip.ts';

const mosquitto = suite('mosquitto');
const bin = findMosquitto();
let cluster: Cluster | undefined;

function missing(): boolean {
  if (bin) return false;
  skipped('mosquitto is not installed', { required: 'NUVEM_REQUIRE_MOSQUITTO', hint: '`apt-get install mosquitto mosquitto-clients` runs these tests' });
  return true;
}

mosquitto.before(async () => {
  if (bin) cluster = await startCluster({ nodes: 3, broker: 'mosquitto', label: 'mosquitto' });
});

mosquitto.after(async () => {
  await cluster?.close();
});

// ---

mosquitto('through Mosquitto, a PUT answered 2xx with w=auto is readable from every node at once, and so is a DELETE', async () => {
  if (missing()) return;
  const c = cluster!;
  for (const k of c.ks) {
    const body = randomBytesFrom(40 + k, 100_000 + k);
    const res = await c.put(k, `mq/n${k}.bin`, body, { w: 'auto' });
    assert.is(res.status, 201, res.body.toString());
    assert.equal([...res.json.replicas].sort(), ['node-1', 'node-2', 'node-3']);
    for (const j of c.ks) {
      const got = await c.get(j, `mq/n${k}.bin`);
      assert.is(got.status, 200, `node-${j} has mq/n${k}.bin at once`);
      assert.is(sha256(got.body), sha256(body));
    }
  }
  assert.is((await c.remove(2, 'mq/n1.bin', { w: 'auto' })).status, 204);
  for (const j of c.ks) assert.is((await c.get(j, 'mq/n1.bin')).status, 404, `node-${j} no longer has mq/n1.bin`);
});

mosquitto('through Mosquitto, kill -9 of a node is announced offline within 1 s, and after a restart it catches up', async () => {
  if (missing()) return;
  const c = cluster!;
  const watch = await watchTopics(c.brokerUrl, ['nuvem/nodes/node-2/status']);
  try {
    await watch.waitFor((m) => m.json?.state === 'online', { what: 'the online status of node-2' });
    const since = watch.seen.length;
    const t0 = performance.now();
    const killing = c.kill(2);
    const offline = await watch.waitFor((m) => m.json?.state === 'offline', { since, timeoutMs: 5000, what: 'state offline for node-2' });
    await killing;
    const ms = offline.at - t0;
    console.log(`\n  (Mosquitto delivered the Last Will of node-2 ${ms.toFixed(0)} ms after kill -9)`);
    assert.ok(ms < 1000, `the offline status came ${ms.toFixed(0)} ms after kill -9`);
  } finally {
    await watch.close();
  }
  const written = new Map<string, string>();
  for (let i = 0; i < 4; i++) {
    const k = i % 2 === 0 ? 1 : 3;
    const body = randomBytesFrom(60 + i, 30_000);
    const res = await c.put(k, `mq/down/f${i}.bin`, body);
    assert.is(res.status, 201, res.body.toString());
    assert.ok(res.ms < 2000, `PUT with node-2 down took ${res.ms.toFixed(0)} ms`);
    written.set(`mq/down/f${i}.bin`, sha256(body));
  }
  assert.is((await c.remove(3, 'mq/n3.bin')).status, 204);
  await c.restart(2);
  const listing = await c.waitConverged({ timeoutMs: 20_000 });
  for (const [path, sha] of written) assert.is(listing.find((r) => r.path === path)?.sha256, sha, path);
  assert.not.ok(listing.some((r) => r.path === 'mq/n3.bin'));
});

mosquitto.run();
