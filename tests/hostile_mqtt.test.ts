/**
 * Hostile and malformed MQTT traffic (DESIGN.md 7.5 and 7.6): a raw client
 * publishes on the nodes' topics what no node would send. The nodes keep
 * serving, store nothing (their listings do not change), and count what they
 * ignored in `nuvem_mqtt_ignored_total`. With tokens on the broker and the
 * nodes, a client without the token cannot connect, and one with a wrong
 * password is refused before it can publish.
 */
import { createServer, type Server } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom } from './_support/bytes.ts';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { sleep, until } from './_support/sleep.ts';

const BOGUS_SHA = 'b'.repeat(64);

/** A change message as a node would publish it, with `fields` changed. */
function change(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    path: 'hostile/x.bin', type: 'file', version: `${Date.now().toString(16).padStart(12, '0')}-0000-node-1`, size: 5,
    sha256: sha256('hello'), modified: Date.now(), contentType: 'application/octet-stream', deleted: false,
    origin: 'node-1', seq: 1, op: 'put', ...fields,
  };
}

function status(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    id: 'mallory', url: 'http://127.0.0.1:9', state: 'online', ts: Date.now(), startedAt: Date.now(), heartbeatMs: 1000,
    seq: 1, applied: {}, lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 1 }, inflight: 0, version: '0.1.0', ...fields,
  };
}

/** Everything every node lists, as one comparable string per node. */
async function listings(c: Cluster): Promise<string[]> {
  return Promise.all(c.ks.map(async (k) => (await c.list(k)).map((r) => `${r.path} ${r.version} ${r.sha256}`).sort().join('\n')));
}

/** `nuvem_mqtt_ignored_total` of node k, per reason. */
async function ignored(c: Cluster, k: number): Promise<Record<string, number>> {
  const text = (await c.request(k, '/metrics')).body.toString();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^nuvem_mqtt_ignored_total\{reason="([^"]*)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * Publishes `messages`, then checks that every node still serves, lists what it
 * listed, and replicates real writes; and, unless `counted` is false, that
 * nodes `counting` counted more ignored messages.
 */
async function publishAndCheck(
  c: Cluster,
  raw: MqttClient,
  messages: [string, string | Buffer][],
  options: { counting: number[]; what: string; counted?: boolean; slow?: boolean },
) {
  const listed = await listings(c);
  const before = await Promise.all(c.ks.map((k) => ignored(c, k)));
  for (const [topic, payload] of messages) await raw.publishAsync(topic, payload, { qos: 1 });
  if (options.counted !== false) await assertCounted(c, before, options);
  // Give anything the messages might have started (a fetch, a catch-up) time to finish before looking.
  await sleep(500);
  for (const k of c.ks) {
    const health = await c.request(k, '/health');
    assert.is(health.status, 200, `node-${k} serves after ${options.what}`);
  }
  assert.equal(await listings(c), listed, `${options.what}: nothing was stored`);
  await assertReplicates(c, options.what, { slow: options.slow });
}

/** Waits (3 s at most) until nodes `counting` count more ignored MQTT messages than `before`. */
async function assertCounted(c: Cluster, before: Record<string, number>[], options: { counting: number[]; what: string }) {
  const deadline = Date.now() + 3000;
  while (true) {
    const after = await Promise.all(c.ks.map((k) => ignored(c, k)));
    if (options.counting.every((k) => total(after[k - 1]) > total(before[k - 1]))) return;
    if (Date.now() > deadline) {
      assert.unreachable(`${options.what}: nuvem_mqtt_ignored_total did not grow on ${options.counting.map((k) => `node-${k}`).join(', ')} within 3 s ` +
        `(before ${JSON.stringify(before)}, after ${JSON.stringify(after)})`);
    }
    await sleep(50);
  }
}

let probe = 0;
/**
 * A real write on each node is on every node at once (w=auto): answered 2xx
 * (quickly, unless `slow`), and then readable everywhere with its bytes.
 */
async function assertReplicates(c: Cluster, what: string, { slow = false } = {}) {
  for (const k of c.ks) {
    const body = randomBytesFrom(9000 + probe, 1000);
    const path = `probe/p${probe++}.bin`;
    const res = await c.put(k, path, body, { w: 'auto' });
    assert.is(res.status, 201, `after ${what}, PUT on node-${k}: ${res.status} ${res.body.toString()}`);
    if (!slow) assert.ok(res.ms < 2000, `after ${what}, a w=auto PUT on node-${k} took ${res.ms.toFixed(0)} ms`);
    for (const j of c.ks) {
      const got = await c.get(j, path);
      assert.ok(got.status === 200 && sha256(got.body) === sha256(body),
        `after ${what}, node-${k} answered a w=auto PUT of ${path} with 201 and replicas ${JSON.stringify(res.json.replicas)}, ` +
        `but node-${j} answers ${got.status} ${got.status === 200 ? 'with other bytes' : got.body.toString()}`);
    }
  }
}

// ---

const hostile = suite('hostile mqtt');
let cluster: Cluster;
let raw: MqttClient;

hostile.before(async () => {
  cluster = await startCluster({ nodes: 2, label: 'hostile' });
  raw = await mqtt.connectAsync(cluster.brokerUrl, { clientId: 'hostile-raw', reconnectPeriod: 0 });
  assert.is((await cluster.put(1, 'hostile/x.bin', 'original')).status, 201);
});

hostile.after(async () => {
  await raw?.endAsync(true).catch(() => {});
  await cluster?.close();
});

hostile('bad JSON, a non-object, and invalid UTF-8 on nuvem/files/x are ignored and counted', async () => {
  await publishAndCheck(cluster, raw, [
    ['nuvem/files/x', '{not json'],
    ['nuvem/files/x', '[1,2,3]'],
    ['nuvem/files/x', ''],
    ['nuvem/files/x', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
  ], { counting: [1, 2], what: 'bad JSON' });
});

hostile('a change whose path does not match its topic, or fails validation, is ignored and counted', async () => {
  await publishAndCheck(cluster, raw, [
    ['nuvem/files/hostile/x.bin', JSON.stringify(change({ path: '../etc/passwd', origin: 'node-1', seq: 999 }))],
    ['nuvem/files/a/../b', JSON.stringify(change({ path: 'a/../b' }))],
    ['nuvem/files/.nuvem/tmp/x', JSON.stringify(change({ path: '.nuvem/tmp/x' }))],
    ['nuvem/files/hostile/x.bin', JSON.stringify(change({ path: 'hostile/other.bin' }))],
    ['nuvem/files/hostile/x.bin', JSON.stringify(change({ op: 'explode' }))],
    ['nuvem/files/hostile/x.bin', JSON.stringify(change({ sha256: 'not-a-sha' }))],
  ], { counting: [1, 2], what: 'invalid paths and fields' });
});

hostile('a change from an unknown origin is ignored and counted', async () => {
  await publishAndCheck(cluster, raw, [
    ['nuvem/files/hostile/x.bin', JSON.stringify(change({ origin: 'stranger', version: `${'f'.repeat(12)}-0000-stranger`, seq: 1 }))],
  ], { counting: [1, 2], what: 'a change from an unknown origin' });
});

hostile('a status with a URL that is not http(s), an id not its topic\'s, or missing fields is ignored and counted', async () => {
  await publishAndCheck(cluster, raw, [
    ['nuvem/nodes/mallory/status', JSON.stringify(status({ url: 'file:///etc/passwd' }))],
    ['nuvem/nodes/mallory/status', JSON.stringify(status({ url: 'javascript:alert(1)' }))],
    ['nuvem/nodes/mallory/status', JSON.stringify(status({ id: 'somebody-else' }))],
    ['nuvem/nodes/mallory/status', '{"id":"mallory"}'],
  ], { counting: [1, 2], what: 'statuses with bad URLs' });
});

/** Serves 200 with bytes that are never the content asked for. */
async function fakeNode(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end('not what you asked for');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const mallorysChange = (seq: number) =>
  JSON.stringify(change({ origin: 'mallory', seq, version: `${'f'.repeat(11)}${seq}-0000-mallory`, sha256: sha256(`evil ${seq}`), size: 6 }));

hostile('a status announcing a URL that is no real node, then a change pointing at it: nothing is stored', async () => {
  const fake = await fakeNode();
  try {
    await publishAndCheck(cluster, raw, [
      ['nuvem/nodes/mallory/status', JSON.stringify(status({ url: fake.url, seq: 1, heartbeatMs: 1000 }))],
      ['nuvem/files/hostile/x.bin', mallorysChange(1)],
    ], { counting: [1, 2], what: 'a fake member and its change', counted: false, slow: true });
    for (const k of cluster.ks) assert.is(sha256((await cluster.get(k, 'hostile/x.bin')).body), sha256('original'));
    console.log(`\n  (the nodes asked the fake member: ${[...new Set(fake.requests)].join(', ')})`);
  } finally {
    await fake.close();
  }
});

hostile('a change whose content from the announced URL does not match its SHA-256 is counted in nuvem_mqtt_ignored_total', async () => {
  const fake = await fakeNode();
  try {
    const before = await Promise.all(cluster.ks.map((k) => ignored(cluster, k)));
    // A fresh origin whose first change is seq 1: the nodes take it up at
    // once (for an origin seen before, a notice after a gap waits for
    // catch-up instead, which would make this depend on the earlier tests).
    await raw.publishAsync('nuvem/nodes/trudy/status', JSON.stringify(status({ id: 'trudy', url: fake.url, seq: 1, heartbeatMs: 1000 })), { qos: 1 });
    const trudys = change({ origin: 'trudy', seq: 1, version: `${'f'.repeat(12)}-0000-trudy`, sha256: sha256('evil'), size: 4 });
    await raw.publishAsync('nuvem/files/hostile/x.bin', JSON.stringify(trudys), { qos: 1 });
    await assertCounted(cluster, before, { counting: [1, 2], what: 'a change with content that does not match' });
  } finally {
    await fake.close();
  }
});

hostile('a status from a fake member (a URL that is no real node) does not hold up w=auto writes', async () => {
  const fake = await fakeNode();
  try {
    await raw.publishAsync('nuvem/nodes/mallory/status', JSON.stringify(status({ url: fake.url, seq: 2, heartbeatMs: 600_000 })), { qos: 1 });
    await sleep(300);
    await assertReplicates(cluster, 'a fake member announced with heartbeatMs 600000');
  } finally {
    // Whatever happened, the fake member goes offline, so later tests are not held up by it.
    await raw.publishAsync('nuvem/nodes/mallory/status', JSON.stringify(status({ url: fake.url, seq: 2, state: 'offline' })), { qos: 1 });
    await fake.close();
  }
});

// A forged notice can make node-2 skip node-1's real next change (see the
// test names): these run last in this suite, so nothing after them depends on it.

/** A change from node-1's id, next in its order, naming content node-1 does not have. */
async function bogusChange(): Promise<[string, string | Buffer][]> {
  const seq = (await cluster.request(1, '/status')).json.seq as number;
  return [['nuvem/files/hostile/x.bin', JSON.stringify(change({ origin: 'node-1', seq: seq + 1, sha256: BOGUS_SHA, size: 7, version: `${'e'.repeat(12)}-0000-node-1` }))]];
}

hostile('a forged change notice (a real origin, its next seq, a SHA-256 it does not hold) stores nothing and does not swallow that origin\'s real next change', async () => {
  await publishAndCheck(cluster, raw, await bogusChange(), { counting: [2], what: 'a change with a bogus SHA-256', counted: false });
  assert.is(sha256((await cluster.get(2, 'hostile/x.bin')).body), sha256('original'));
});

hostile('a forged change notice (a real origin, a SHA-256 it does not hold) is counted in nuvem_mqtt_ignored_total', async () => {
  const before = await Promise.all(cluster.ks.map((k) => ignored(cluster, k)));
  for (const [topic, payload] of await bogusChange()) await raw.publishAsync(topic, payload, { qos: 1 });
  await assertCounted(cluster, before, { counting: [2], what: 'a change with a bogus SHA-256' });
});

hostile('a forged notice that takes a real origin\'s next seq (content it holds, a path it never wrote) does not hide the real change with that seq', async () => {
  // Content node-1 really holds, so node-2 can apply the forged change and move past its seq.
  assert.is((await cluster.put(1, 'hostile/squat-source.txt', 'squatted bytes', { w: 'auto' })).status, 201);
  const seq = (await cluster.request(1, '/status')).json.seq as number;
  const version = `${Date.now().toString(16).padStart(12, '0')}-0000-node-1`;
  const forged = change({ path: 'hostile/squat.txt', origin: 'node-1', seq: seq + 1, version, sha256: sha256('squatted bytes'), size: 14 });
  await raw.publishAsync('nuvem/files/hostile/squat.txt', JSON.stringify(forged), { qos: 1 });
  // The real change at once, before node-1 can hear from node-2's status that its seq was taken
  // (it then gives its next change a later seq, which would not test the squatted one).
  const put = await cluster.put(1, 'hostile/after-squat.txt', 'the real change', { w: 'auto' });
  assert.is(put.status, 201, `w=auto PUT after the squatted seq: ${put.status} ${put.body.toString()}`);
  await until('node-2 applied the forged change', async () => (await cluster.get(2, 'hostile/squat.txt')).status === 200);
  if (put.json.seq !== seq + 1) console.log(`\n  (node-1 had heard of the squatted seq already: the real change has seq ${put.json.seq}, not ${seq + 1})`);
  const got = await cluster.get(2, 'hostile/after-squat.txt');
  assert.is(got.status, 200, `node-2 answers ${got.status} for the real change`);
  assert.is(got.body.toString(), 'the real change');
  // And the origin's later changes still apply in order.
  const next = await cluster.put(1, 'hostile/after-squat-2.txt', 'and the next', { w: 'auto' });
  assert.is(next.status, 201, `the next w=auto PUT: ${next.status} ${next.body.toString()}`);
  assert.is((await cluster.get(2, 'hostile/after-squat-2.txt')).body.toString(), 'and the next');
});

hostile('a forged mkcol notice with the largest version is refused for its clock: writes go on with valid versions, after a restart too', async () => {
  const seq = (await cluster.request(1, '/status')).json.seq as number;
  const before = await ignored(cluster, 2);
  const forged = change({ path: 'hostile/far', type: 'folder', op: 'mkcol', size: 0, sha256: '', contentType: '', origin: 'node-1', seq: seq + 1, version: 'ffffffffffff-ffff-node-1' });
  await raw.publishAsync('nuvem/files/hostile/far', JSON.stringify(forged), { qos: 1 });
  const deadline = Date.now() + 3000;
  while ((((await ignored(cluster, 2)).clock ?? 0) <= (before.clock ?? 0)) && Date.now() < deadline) await sleep(50);
  assert.ok(((await ignored(cluster, 2)).clock ?? 0) > (before.clock ?? 0), 'counted as refused for its clock');
  for (const round of ['before', 'after']) {
    if (round === 'after') await cluster.restart(2).catch(async () => {
      await cluster.kill(2);
      await cluster.restart(2);
    });
    const put = await cluster.put(2, `hostile/after-forged-${round}.txt`, round);
    assert.is(put.status, 201, `PUT ${round} the restart: ${put.body.toString()}`);
    const version = put.json.version as string;
    assert.match(version, /^[0-9a-f]{12}-[0-9a-f]{4}-/);
    assert.ok(version < 'ffffffffffff', `${version} is a version of now, not of the forged clock`);
    assert.is((await cluster.get(2, 'hostile/far')).status, 404);
  }
  assert.equal(cluster.crashes(), []);
});

hostile.run();

// ---

const TOKEN = 'cluster-secret';
const secured = suite('mqtt with tokens');
let sc: Cluster;

secured.before(async () => {
  sc = await startCluster({ nodes: 2, token: TOKEN, label: 'hostile-token' });
});

secured.after(async () => {
  await sc?.close();
});

async function refusal(options: mqtt.IClientOptions): Promise<Error> {
  return mqtt.connectAsync(sc.brokerUrl, { reconnectPeriod: 0, connectTimeout: 3000, ...options }).then(
    async (client) => {
      await client.endAsync(true);
      throw new Error(`the broker accepted ${JSON.stringify({ ...options, password: options.password && '***' })}`);
    },
    (err: Error) => err,
  );
}

secured('with tokens, the nodes replicate and their HTTP routes (internal ones too) need the token', async () => {
  const res = await sc.put(1, 'sec/a.txt', 'secret stuff');
  assert.is(res.status, 201);
  assert.is((await sc.get(2, 'sec/a.txt')).body.toString(), 'secret stuff');
  for (const target of ['/files/sec/a.txt', `/internal/content/${sha256('secret stuff')}`, '/internal/log?origin=node-1&after=0', '/internal/digest']) {
    const anon = await fetch(sc.url(2) + target);
    assert.is(anon.status, 401, `${target} without a token`);
    await anon.body?.cancel();
  }
});

secured('with tokens, an MQTT client without credentials cannot connect', async () => {
  const err = await refusal({ clientId: 'anonymous' });
  assert.match(err.message, /not authorized|Connection refused/i);
});

secured('with tokens, a client with a wrong password is refused at CONNECT and cannot publish on nuvem/files', async () => {
  const listed = await listings(sc);
  const err = await refusal({ clientId: 'impostor', username: 'node-1', password: 'not-the-token' });
  assert.match(err.message, /bad user name or password|Connection refused/i);
  // And nothing it might have sent arrived: a watcher with the real token sees no files traffic.
  const watcher = await mqtt.connectAsync(sc.brokerUrl, { clientId: 'watcher', username: 'node-9', password: TOKEN, reconnectPeriod: 0 });
  const seen: string[] = [];
  watcher.on('message', (topic) => seen.push(topic));
  await watcher.subscribeAsync('nuvem/files/#', { qos: 1 });
  const impostor = mqtt.connect(sc.brokerUrl, { clientId: 'impostor-2', username: 'node-1', password: 'wrong', reconnectPeriod: 0 });
  impostor.on('error', () => {});
  impostor.publish('nuvem/files/sec/a.txt', JSON.stringify(change({ path: 'sec/a.txt', op: 'delete', deleted: true, sha256: '', size: 0, seq: 99 })), { qos: 0 });
  await new Promise<void>((resolve) => impostor.once('close', () => resolve()));
  await sleep(300);
  await watcher.endAsync(true);
  assert.equal(seen, [], 'nothing from the impostor reached nuvem/files/#');
  assert.equal(await listings(sc), listed);
  assert.is((await sc.get(1, 'sec/a.txt')).status, 200);
});

secured.run();
