/**
 * Replication across three node processes and the embedded broker (DESIGN.md
 * sections 3, 4 and 7): a change answered 2xx with `w=auto` is on every node
 * at once; the MQTT topics carry statuses and change notices; a killed node is
 * announced offline by its Last Will within a second, the others keep
 * accepting writes, and it catches up by itself after a restart; concurrent
 * writes keep the loser as a revision and announce a conflict; a modification
 * concurrent with a delete wins.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom } from './_support/bytes.ts';
import { findMosquittoSub, sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { skipped } from './_support/skip.ts';
import { sleep } from './_support/sleep.ts';

const replication = suite('replication');
let cluster: Cluster;

/** Every node running, the broker up, and every node seeing the others online. */
async function ready(): Promise<void> {
  if (!cluster.brokerRunning()) await cluster.startBroker();
  for (const k of cluster.ks) if (!cluster.running(k)) await cluster.restart(k);
  await cluster.waitMesh({ timeoutMs: 15_000 });
}

/** Reads `path` from every running node and checks the bytes. */
async function assertEverywhere(path: string, sha: string, what: string): Promise<void> {
  for (const k of cluster.live()) {
    const res = await cluster.get(k, path);
    assert.is(res.status, 200, `${what}: GET ${path} from ${cluster.id(k)} answered ${res.status} ${res.body.toString().slice(0, 200)}`);
    assert.is(sha256(res.body), sha, `${what}: ${cluster.id(k)} serves other bytes for ${path}`);
  }
}

async function assertGoneEverywhere(path: string, what: string): Promise<void> {
  for (const k of cluster.live()) {
    const res = await cluster.get(k, path);
    assert.is(res.status, 404, `${what}: GET ${path} from ${cluster.id(k)} answered ${res.status}, expected 404`);
  }
}

/**
 * A PUT whose body is sent but for its last byte; `finish()` sends that byte
 * and resolves with the answer. Two of them finished together commit within
 * moments of each other on their nodes, however busy the machine is.
 */
function heldPut(k: number, path: string, body: Buffer, w = 'auto'): { finish(): Promise<{ status: number; json: any }> } {
  const { hostname, port } = new URL(cluster.url(k));
  const headers: Record<string, string> = { 'content-length': String(body.length), 'content-type': 'application/octet-stream' };
  if (cluster.token) headers.authorization = `Bearer ${cluster.token}`;
  const req = request({ host: hostname, port: Number(port), method: 'PUT', path: `/files/${path}?w=${w}`, headers, agent: false });
  const answer = new Promise<{ status: number; json: any }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, body.length - 1));
  return {
    finish() {
      req.end(body.subarray(body.length - 1));
      return answer;
    },
  };
}

replication.before(async () => {
  cluster = await startCluster({ nodes: 3, label: 'replication' });
});

replication.after(async () => {
  await cluster?.close();
});

// ---

replication('a PUT answered 2xx with w=auto is readable with the same SHA-256 from every node at once', async () => {
  await ready();
  const sizes = [0, 1, 4096, 300_000, 3 * 1024 * 1024];
  for (const [i, size] of sizes.entries()) {
    const k = cluster.ks[i % 3];
    const body = randomBytesFrom(1000 + i, size);
    const path = `now/file-${i}.bin`;
    const res = await cluster.put(k, path, body, { w: 'auto' });
    assert.is(res.status, 201, `PUT ${path} on ${cluster.id(k)}: ${res.body.toString()}`);
    assert.is(res.json.sha256, sha256(body));
    assert.equal([...res.json.replicas].sort(), ['node-1', 'node-2', 'node-3'], 'replicas of a w=auto write');
    await assertEverywhere(path, sha256(body), `new ${size}-byte file written on ${cluster.id(k)}`);
  }
  // An overwrite on another node than the first write.
  const body = randomBytesFrom(77, 50_000);
  const res = await cluster.put(3, 'now/file-1.bin', body);
  assert.is(res.status, 200);
  await assertEverywhere('now/file-1.bin', sha256(body), 'overwrite on node-3 (w=auto by default)');
  for (const k of cluster.ks) {
    const head = await cluster.request(k, '/files/now/file-1.bin', { method: 'HEAD' });
    assert.is(head.headers.get('etag'), `"${res.json.version}"`, `${cluster.id(k)} has the new version`);
  }
});

/** The value of one labelled series in node k's /metrics (0 when absent). */
async function series(k: number, name: string, labels: string): Promise<number> {
  const text = (await cluster.request(k, '/metrics')).body.toString('utf8');
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

replication('a big PUT streams to the replicas while it arrives: each applies the copy pushed to it, no second transfer', async () => {
  await ready();
  const used = async () => Promise.all([1, 3].map((k) => series(k, 'nuvem_staged_total', 'outcome="used"')));
  const usedBefore = await used();
  const pushedBefore = await series(2, 'nuvem_push_total', 'outcome="ok"');
  const body = randomBytesFrom(2024, 8 * 1024 * 1024 + 5);
  const res = await cluster.put(2, 'big/streamed.bin', body, { w: 'auto' });
  assert.is(res.status, 201, res.body.toString());
  assert.equal([...res.json.replicas].sort(), ['node-1', 'node-2', 'node-3']);
  await assertEverywhere('big/streamed.bin', sha256(body), 'a streamed 8 MiB PUT');
  assert.equal(await used(), usedBefore.map((n) => n + 1), 'node-1 and node-3 each applied the staged copy');
  assert.is(await series(2, 'nuvem_push_total', 'outcome="ok"'), pushedBefore + 2, 'node-2 pushed to both peers');
});

replication('a big upload cut off midway leaves nothing on any node: no file, no staged copy, no temp file', async () => {
  await ready();
  const failedBefore = await Promise.all([1, 3].map((k) => series(k, 'nuvem_staged_total', 'outcome="failed"')));
  const size = 8 * 1024 * 1024;
  await new Promise<void>((resolve) => {
    const req = request(`${cluster.url(2)}/files/big/cut.bin`, { method: 'PUT', headers: { 'content-length': String(size) } });
    req.on('error', () => resolve());
    req.write(randomBytesFrom(2025, 3 * 1024 * 1024), () => setTimeout(() => {
      req.destroy();
      resolve();
    }, 200));
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const failed = await Promise.all([1, 3].map((k) => series(k, 'nuvem_staged_total', 'outcome="failed"')));
    const temps = cluster.ks.flatMap((k) => readdirSync(join(cluster.dataDir(k), '.nuvem', 'tmp')));
    if (failed.every((n, i) => n === failedBefore[i] + 1) && temps.length === 0) break;
    assert.ok(Date.now() < deadline, `after 10 s: staged failures ${failed} (before ${failedBefore}), temp files ${temps}`);
    await sleep(50);
  }
  await assertGoneEverywhere('big/cut.bin', 'an upload cut off midway');
});

replication('a DELETE answered 204 with w=auto is 404 on every node at once', async () => {
  await ready();
  const body = randomBytesFrom(2, 10_000);
  assert.is((await cluster.put(1, 'del/a.bin', body)).status, 201);
  const res = await cluster.remove(2, 'del/a.bin', { w: 'auto' });
  assert.is(res.status, 204);
  await assertGoneEverywhere('del/a.bin', 'deleted on node-2');
  for (const k of cluster.ks) {
    const revs = await cluster.request(k, '/revisions/del/a.bin');
    assert.ok(revs.json.revisions.some((r: { sha256: string }) => r.sha256 === sha256(body)), `${cluster.id(k)} keeps the deleted version`);
  }
});

replication('a MOVE answered 2xx with w=auto is at the new path on every node and 404 at the old', async () => {
  await ready();
  const body = randomBytesFrom(3, 70_000);
  assert.is((await cluster.put(2, 'mv/from.bin', body)).status, 201);
  const res = await cluster.move(3, 'mv/from.bin', 'mv/sub/to.bin', { w: 'auto' });
  assert.is(res.status, 201, res.body.toString());
  await assertEverywhere('mv/sub/to.bin', sha256(body), 'moved on node-3');
  await assertGoneEverywhere('mv/from.bin', 'moved away on node-3');

  // A folder with its subtree, and an empty folder made with MKCOL.
  assert.is((await cluster.put(1, 'mvdir/x/one.txt', 'one')).status, 201);
  assert.is((await cluster.put(1, 'mvdir/x/two.txt', 'two')).status, 201);
  assert.is((await cluster.mkcol(2, 'mvdir/empty')).status, 201);
  const moved = await cluster.move(2, 'mvdir/x', 'mvdir/y');
  assert.is(moved.status, 201, moved.body.toString());
  await assertEverywhere('mvdir/y/one.txt', sha256('one'), 'folder moved on node-2');
  await assertEverywhere('mvdir/y/two.txt', sha256('two'), 'folder moved on node-2');
  await assertGoneEverywhere('mvdir/x/one.txt', 'folder moved on node-2');
  for (const k of cluster.ks) {
    const listing = await cluster.request(k, '/files/mvdir/');
    assert.is(listing.status, 200);
    assert.equal(listing.json.entries.map((e: { path: string }) => e.path).sort(), ['mvdir/empty', 'mvdir/y'], `${cluster.id(k)} lists mvdir/`);
  }
});

replication('mosquitto_sub sees the retained statuses of the three nodes and the change notice of a PUT', async () => {
  await ready();
  const bin = findMosquittoSub();
  if (!bin) return skipped('mosquitto_sub not found', { required: 'NUVEM_REQUIRE_MOSQUITTO', hint: 'install the Debian package mosquitto-clients' });
  const sub = spawn(bin, ['-h', '127.0.0.1', '-p', String(cluster.brokerPort), '-t', 'nuvem/#', '-v', '-q', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  sub.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: sub.stdout! }).on('line', (line) => lines.push(line));
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!ok()) {
      if (Date.now() > deadline) assert.unreachable(`mosquitto_sub did not show ${what} within 5 s; stderr: ${stderr}\n${lines.slice(-20).join('\n')}`);
      await sleep(25);
    }
  };
  try {
    const status = (k: number) => lines.find((l) => l.startsWith(`nuvem/nodes/node-${k}/status `));
    await until('the three retained statuses', () => cluster.ks.every((k) => status(k) !== undefined));
    for (const k of cluster.ks) {
      const payload = JSON.parse(status(k)!.slice(`nuvem/nodes/node-${k}/status `.length));
      assert.is(payload.id, `node-${k}`);
      assert.is(payload.url, cluster.url(k));
      assert.is(payload.state, 'online');
    }
    const body = 'seen by mosquitto_sub';
    const put = await cluster.put(2, 'sub/seen.txt', body);
    assert.is(put.status, 201);
    const notice = () => lines.find((l) => l.startsWith('nuvem/files/sub/seen.txt '));
    await until('the change notice on nuvem/files/sub/seen.txt', () => notice() !== undefined);
    const change = JSON.parse(notice()!.slice('nuvem/files/sub/seen.txt '.length));
    assert.is(change.op, 'put');
    assert.is(change.origin, 'node-2');
    assert.is(change.version, put.json.version);
    assert.is(change.sha256, sha256(body));
    await until('the acks of node-1 and node-3', () =>
      ['node-1', 'node-3'].every((n) => lines.some((l) => l.startsWith('nuvem/acks/node-2 ') && l.includes(`"node":"${n}"`) && l.includes(`"seq":${put.json.seq}`))));
  } finally {
    sub.kill('SIGKILL');
  }
});

replication('kill -9 of a node shows "state":"offline" on its retained status topic within 1 s', async () => {
  await ready();
  const topic = 'nuvem/nodes/node-3/status';
  const watch = await watchTopics(cluster.brokerUrl, [topic]);
  try {
    await watch.waitFor((m) => m.json?.state === 'online', { what: 'the online status of node-3' });
    const since = watch.seen.length;
    const t0 = performance.now();
    const killing = cluster.kill(3);
    const offline = await watch.waitFor((m) => m.json?.state === 'offline', { since, timeoutMs: 5000, what: 'state offline for node-3' });
    await killing;
    const ms = offline.at - t0;
    console.log(`\n  (Last Will of node-3 seen ${ms.toFixed(0)} ms after kill -9)`);
    assert.ok(ms < 1000, `the offline status came ${ms.toFixed(0)} ms after kill -9`);
    assert.is(offline.json.id, 'node-3');
  } finally {
    await watch.close();
  }
  // What a subscriber arriving later is told: the retained status says offline.
  const late = await watchTopics(cluster.brokerUrl, [topic]);
  try {
    const retained = await late.waitFor((m) => m.retain, { what: 'a retained status' });
    assert.is(retained.json.state, 'offline');
  } finally {
    await late.close();
  }
});

replication('with a node killed, w=auto writes on the others answer 2xx quickly and are on both live nodes', async () => {
  if (cluster.running(3)) await cluster.kill(3);
  for (let i = 0; i < 6; i++) {
    const k = (i % 2) + 1;
    const body = randomBytesFrom(500 + i, 20_000 + i);
    const res = await cluster.put(k, `down/f${i}.bin`, body, { w: 'auto' });
    assert.is(res.status, 201, `PUT on ${cluster.id(k)} with node-3 down: ${res.status} ${res.body.toString()}`);
    assert.ok(res.ms < 2000, `PUT on ${cluster.id(k)} with node-3 down took ${res.ms.toFixed(0)} ms`);
    assert.equal([...res.json.replicas].sort(), ['node-1', 'node-2']);
    await assertEverywhere(`down/f${i}.bin`, sha256(body), `written on ${cluster.id(k)} with node-3 down`);
  }
  const del = await cluster.remove(1, 'down/f0.bin');
  assert.is(del.status, 204);
  assert.ok(del.ms < 2000, `DELETE took ${del.ms.toFixed(0)} ms`);
  const mv = await cluster.move(2, 'down/f1.bin', 'down/moved.bin');
  assert.is(mv.status, 201);
  assert.ok(mv.ms < 2000, `MOVE took ${mv.ms.toFixed(0)} ms`);
});

replication('a killed node restarted on its data folder catches up with no request sent to it', async () => {
  if (cluster.running(3)) await cluster.kill(3);
  // Changes it misses: puts, an overwrite, a delete, a move, a folder.
  const bodies = new Map<string, Buffer>();
  for (let i = 0; i < 8; i++) {
    const body = randomBytesFrom(900 + i, 1000 * i);
    bodies.set(`missed/f${i}.bin`, body);
    assert.is((await cluster.put((i % 2) + 1, `missed/f${i}.bin`, body)).status, 201);
  }
  assert.is((await cluster.put(2, 'missed/f0.bin', 'overwritten')).status, 200);
  assert.is((await cluster.remove(1, 'missed/f1.bin')).status, 204);
  assert.is((await cluster.move(2, 'missed/f2.bin', 'missed/moved.bin')).status, 201);
  assert.is((await cluster.mkcol(1, 'missed/folder')).status, 201);
  const seqs: Record<string, number> = {};
  for (const k of [1, 2]) seqs[cluster.id(k)] = (await cluster.request(k, '/status')).json.seq;

  // Watch node-3's own heartbeat: it reports what it applied, so no request to it is needed to see it catch up.
  const watch = await watchTopics(cluster.brokerUrl, ['nuvem/nodes/node-3/status']);
  try {
    const t0 = Date.now();
    await cluster.restart(3);
    const caughtUp = (m: { json: any }) =>
      m.json?.state === 'online' && Object.entries(seqs).every(([origin, seq]) => (m.json.applied?.[origin] ?? 0) >= seq);
    await watch.waitFor(caughtUp, { timeoutMs: 20_000, what: `applied >= ${JSON.stringify(seqs)}` });
    console.log(`\n  (node-3 caught up ${Date.now() - t0} ms after its restart began)`);
  } finally {
    await watch.close();
  }
  const listing = await cluster.waitConverged({ timeoutMs: 5000 });
  const paths = listing.map((r) => r.path);
  assert.ok(paths.includes('missed/moved.bin') && !paths.includes('missed/f1.bin') && !paths.includes('missed/f2.bin'));
  assert.ok(paths.includes('missed/folder'));
  const f0 = listing.find((r) => r.path === 'missed/f0.bin');
  assert.is(f0?.sha256, sha256('overwritten'));
});

replication('concurrent PUTs of one path on two nodes: one winner everywhere, the loser kept as a revision on every node, a conflict event', async () => {
  await ready();
  const watch = await watchTopics(cluster.brokerUrl, ['nuvem/events/+']);
  try {
    let attempt = 0;
    while (true) {
      attempt++;
      const path = `race/same-${attempt}.bin`;
      const a = randomBytesFrom(10 * attempt + 1, 40_000);
      const b = randomBytesFrom(10 * attempt + 2, 40_000);
      // Both bodies are on their way before either write can commit; then both end at once.
      const [pa, pb] = [heldPut(1, path, a), heldPut(2, path, b)];
      await sleep(300);
      const [ra, rb] = await Promise.all([pa.finish(), pb.finish()]);
      assert.ok(ra.status >= 200 && ra.status < 300, `PUT on node-1: ${ra.status} ${JSON.stringify(ra.json)}`);
      assert.ok(rb.status >= 200 && rb.status < 300, `PUT on node-2: ${rb.status} ${JSON.stringify(rb.json)}`);
      const listing = await cluster.waitConverged({ timeoutMs: 15_000 });
      const current = listing.find((r) => r.path === path)!;
      const [winner, loser] = current.version === ra.json.version ? [ra.json, rb.json] : [rb.json, ra.json];
      assert.is(current.version, winner.version, 'the current version is one of the two writes');
      assert.ok(winner.version > loser.version, 'the higher version wins');
      for (const k of cluster.ks) {
        const revs = (await cluster.request(k, `/revisions/${path}`)).json.revisions as { version: string; sha256: string }[];
        assert.ok(revs.some((r) => r.version === loser.version && r.sha256 === loser.sha256), `${cluster.id(k)} keeps the loser ${loser.version}: ${JSON.stringify(revs)}`);
        const old = await cluster.request(k, `/files/${path}?version=${encodeURIComponent(loser.version)}`);
        assert.is(sha256(old.body), loser.sha256, `${cluster.id(k)} serves the kept loser`);
      }
      // On a very busy machine one write may still reach the other node before
      // it commits its own: then it was an overwrite, not a conflict. Try again.
      try {
        const event = await watch.waitFor((m) => m.json?.type === 'conflict' && m.json.path === path, { timeoutMs: 3000, what: `a conflict event for ${path}` });
        assert.is(event.json.winner, winner.version);
        assert.is(event.json.loser, loser.version);
        assert.match(event.topic, /^nuvem\/events\/node-\d$/);
        if (attempt > 1) console.log(`\n  (the writes were concurrent on attempt ${attempt})`);
        return;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  } finally {
    await watch.close();
  }
});

replication('a modification concurrent with a delete wins: with the broker down, DELETE on node-1 and PUT on node-2, then the broker back', async () => {
  await ready();
  const path = 'race/mod-vs-del.txt';
  assert.is((await cluster.put(3, path, 'original')).status, 201);
  await cluster.stopBroker();
  try {
    const [del, put] = await Promise.all([cluster.remove(1, path, { w: 1 }), cluster.put(2, path, 'modified', { w: 1 })]);
    assert.is(del.status, 204);
    assert.is(put.status, 200, put.body.toString());
  } finally {
    await cluster.startBroker();
  }
  await cluster.waitMesh();
  const listing = await cluster.waitConverged({ timeoutMs: 20_000 });
  assert.is(listing.find((r) => r.path === path)?.sha256, sha256('modified'), 'the modification survives on every node');
  for (const k of cluster.ks) assert.is((await cluster.get(k, path)).body.toString(), 'modified');
});

replication.run();
