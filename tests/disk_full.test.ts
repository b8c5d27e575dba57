/**
 * A full disk (DESIGN.md section 3, 507; issue items on errors after the
 * rename): a node's data folder on a real 16 MiB tmpfs, filled to its end by
 * a filler file. An upload that cannot be stored gets 507 and leaves the old
 * version at its path, whole; below the reserve uploads are refused before
 * their body is read while reads, deletes and moves go on; /health says 503;
 * once space is freed uploads work again; and a node whose disk is full
 * still starts and serves reads.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeConfig } from '../nodes/config.ts';
import { nodeRuntime } from '../nodes/http_node.ts';
import { type RunningNode, startNode } from '../nodes/mod.ts';
import { startBroker } from '../broker/mod.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { NO_BROKER, startNodeProcess } from './_support/node_process.ts';
import { until } from './_support/sleep.ts';
import { mountTmpfs, type Tmpfs, tmpfsUnavailable } from './_support/tmpfs.ts';

const unavailable = tmpfsUnavailable();
if (unavailable) console.log(`  disk_full: skipped, no tmpfs (${unavailable})`);

async function nodeOn(dataDir: string, extra: Partial<NodeConfig> = {}): Promise<RunningNode> {
  const print = console.log;
  console.log = () => {}; // the "listening" line
  try {
    return await startNode({
      host: '127.0.0.1', port: 0, dataDir, broker: NO_BROKER, embeddedBroker: false, watch: false,
      logLevel: 'error', antiEntropyMs: 30_000, keepRevisions: 10, heartbeatMs: 1000, ...extra,
    }, nodeRuntime());
  } finally {
    console.log = print;
  }
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function put(url: string, path: string, body: Uint8Array<ArrayBuffer>) {
  const res = await fetch(`${url}/files/${path}`, { method: 'PUT', body });
  return { status: res.status, json: await res.json() };
}

async function getBytes(url: string, path: string): Promise<{ status: number; body: Uint8Array }> {
  const res = await fetch(`${url}/files/${path}`);
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

/** Every file under `dir`, recursively (relative names). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length + 1));
}

async function withTmpfs(fn: (fs: Tmpfs) => Promise<void>): Promise<void> {
  if (unavailable) return;
  const fs = mountTmpfs({ mib: 16, label: 'full' });
  try {
    await fn(fs);
  } finally {
    fs.cleanup();
  }
}

test('a write whose index commit finds the disk full (after the rename) gets 507; the old version stays at its path, whole', () =>
  withTmpfs(async (fs) => {
    const dataDir = join(fs.path, 'data');
    const node = await nodeOn(dataDir, { reserve: { bytes: 0 } }); // no reserve: the write reaches the disk
    try {
      const old = bytes(3000, 1);
      assert.is((await put(node.url, 'a.bin', old)).status, 201);
      const before = node.store.get('a.bin')!;
      // The change log's line is written after the answer: let it land before the disk fills.
      await until('the change log line', () => readFileSync(join(dataDir, '.nuvem', 'change_log.jsonl'), { encoding: 'utf8', flag: 'a+' }).includes('a.bin'));
      // One page left: the new body's temp file fits, the index's write-ahead log cannot grow.
      fs.fill({ leaveBytes: 4096 });
      const res = await put(node.url, 'a.bin', bytes(100, 2));
      assert.is(res.status, 507, JSON.stringify(res.json));
      assert.is(res.json.error, 'disk_full');
      const got = await getBytes(node.url, 'a.bin');
      assert.is(got.status, 200);
      assert.is(sha(got.body), sha(old), 'the old version is served, whole');
      assert.equal(node.store.get('a.bin'), before, 'the record is unchanged');
      assert.equal(filesUnder(join(dataDir, '.nuvem', 'revs')), [], 'no revision link is left behind');
      assert.equal(filesUnder(join(dataDir, '.nuvem', 'tmp')), [], 'no temp file is left behind');
      fs.unfill();
      const again = await put(node.url, 'a.bin', bytes(100, 2));
      assert.is(again.status, 200, 'with space again the same upload is stored');
      assert.is(sha((await getBytes(node.url, 'a.bin')).body), sha(bytes(100, 2)));
    } finally {
      await node.stop();
    }
  }));

test('below the reserve uploads get 507 while reads, deletes and moves work and /health says 503; freed space lets uploads in again', () =>
  withTmpfs(async (fs) => {
    const dataDir = join(fs.path, 'data');
    const node = await nodeOn(dataDir); // default reserve: 1 % of 16 MiB
    try {
      for (const p of ['a', 'b', 'c']) assert.is((await put(node.url, p, bytes(1000, p.charCodeAt(0)))).status, 201);
      assert.is((await fetch(`${node.url}/health`)).status, 200);
      fs.fill({ leaveBytes: 128 * 1024 }); // below 1 % of 16 MiB, room left for the index
      // The free space is read at most once a second: within that, an upload may still go in.
      const { value: res } = await until('uploads refused by the reserve', async () => {
        const r = await put(node.url, 'a', bytes(10, 9));
        return r.status === 507 && /reserve/.test(r.json.message) && r;
      }, 5000);
      assert.is(res.json.error, 'disk_full');
      assert.ok([sha(bytes(1000, 97)), sha(bytes(10, 9))].includes(sha((await getBytes(node.url, 'a')).body)), 'a whole version stays');
      const health = await fetch(`${node.url}/health`);
      assert.is(health.status, 503);
      assert.is((await health.json()).error, 'unavailable');
      assert.is((await fetch(`${node.url}/files/b`, { method: 'DELETE' })).status, 204, 'a delete still works');
      const moved = await fetch(`${node.url}/files/c`, { method: 'MOVE', headers: { destination: '/files/d' } });
      assert.ok(moved.status === 201 || moved.status === 200, `a move still works (${moved.status})`);
      assert.is(sha((await getBytes(node.url, 'd')).body), sha(bytes(1000, 99)));
      fs.unfill();
      await until('uploads accepted again', async () => (await put(node.url, 'e', bytes(10, 1))).status === 201, 5000);
      await until('/health 200 again', async () => (await fetch(`${node.url}/health`)).status === 200, 10_000);
    } finally {
      await node.stop();
    }
  }));

test('falling below the reserve is announced once as a disk_low event on nuvem/events/{id}', () =>
  withTmpfs(async (fs) => {
    const broker = await startBroker({ port: 0, wsPort: false });
    const watch = await watchTopics(broker.mqttUrl, ['nuvem/events/+', 'nuvem/nodes/+/status']);
    const node = await nodeOn(join(fs.path, 'data'), { broker: broker.mqttUrl, id: 'node-full' });
    try {
      await watch.waitFor((m) => m.topic === 'nuvem/nodes/node-full/status' && m.json?.state === 'online', { timeoutMs: 10_000, what: 'the node on the broker' });
      fs.fill({ leaveBytes: 128 * 1024 }); // below 1 % of 16 MiB
      // The disk is read every 5 s, and before an upload when it is near the reserve.
      await until('uploads refused', async () => (await put(node.url, 'x', bytes(10, 1))).status === 507, 10_000);
      const event = await watch.waitFor((m) => m.json?.type === 'disk_low', { timeoutMs: 5000 });
      assert.is(event.topic, 'nuvem/events/node-full');
      assert.is(event.json.node, 'node-full');
      assert.ok(event.json.free < event.json.reserve, JSON.stringify(event.json));
      assert.is(event.json.total, 16 * 1024 * 1024);
      await put(node.url, 'y', bytes(10, 1));
      await new Promise((r) => setTimeout(r, 300));
      assert.is(watch.seen.filter((m) => m.json?.type === 'disk_low').length, 1, 'announced once, not per refused upload');
    } finally {
      await node.stop();
      await watch.close();
      await broker.close();
    }
  }));

test('--reserve refuses an upload before its body is read', () =>
  withTmpfs(async (fs) => {
    const node = await nodeOn(join(fs.path, 'data'), { reserve: { bytes: 32 * 1024 * 1024 } }); // more than the volume
    try {
      const { port } = new URL(node.url);
      const answer = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
        let sent = 0;
        const req = request({ host: '127.0.0.1', port: Number(port), method: 'PUT', path: '/files/big.bin', headers: { 'content-length': String(8 << 20) } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => {
            resolve({ status: res.statusCode!, body, sent });
            req.destroy();
          });
        });
        req.on('error', () => {}); // destroyed once answered
        setTimeout(() => {
          req.destroy();
          reject(new Error('no answer within 5 s: the node is waiting for the body'));
        }, 5000).unref();
        req.write(bytes(64 * 1024, 1), () => (sent += 64 * 1024)); // and nothing more: the rest never comes
      });
      assert.is(answer.status, 507, answer.body);
      assert.is(JSON.parse(answer.body).error, 'disk_full');
      assert.equal(filesUnder(join(fs.path, 'data', '.nuvem', 'tmp')), [], 'nothing was written');
      assert.is(node.store.get('big.bin'), undefined);
    } finally {
      await node.stop();
    }
  }));

test('a node whose disk is full starts (its start-up check leaves what it cannot record for later) and serves reads', () =>
  withTmpfs(async (fs) => {
    const dataDir = join(fs.path, 'data');
    let node = await startNodeProcess({ dataDir });
    const a = bytes(5000, 7);
    try {
      assert.is((await put(node.url, 'a', a)).status, 201);
      assert.is((await put(node.url, 'gone', bytes(10, 1))).status, 201);
    } finally {
      await node.stop();
    }
    rmSync(join(dataDir, 'files', 'gone')); // deleted by hand: the start-up check wants to record a tombstone
    fs.fill();
    node = await startNodeProcess({ dataDir });
    try {
      const got = await getBytes(node.url, 'a');
      assert.is(got.status, 200);
      assert.is(sha(got.body), sha(a));
      assert.is((await fetch(`${node.url}/health`)).status, 503);
      assert.is((await put(node.url, 'b', bytes(10, 1))).status, 507);
      assert.ok(node.output.some((l) => l.includes('the disk is full')), node.output.join('\n'));
    } finally {
      await node.stop();
    }
  }));

test.run();
