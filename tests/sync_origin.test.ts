/**
 * Where `nuvem sync` fetches a changed file from (client/sync_fetch.ts), on
 * a real 3-node cluster and the embedded broker: mirror A bound to node-1,
 * B to node-2 (the client's `prefer`).
 *
 * - node-2 cut off from the other nodes' messages (the broker's own
 *   `authorizeForward` hook drops their notices and statuses to it, so it
 *   neither applies nor catches up): a file written in A still reaches B
 *   whole, served by node-1, the change's origin (the nodes' sent-bytes
 *   counters), not by node-3 and not by waiting for node-2.
 * - B's own node serving bytes that fail their SHA-256 (its copy damaged on
 *   disk): B fetches them again from another node and places the right
 *   bytes, without an error.
 * - A file written in parts with pauses longer than the settle time: B may
 *   get the parts written so far first, but only states the file was in,
 *   and the whole file last.
 * - The origin dead (`kill -9`): a read that names it as the holder is
 *   served by another node that holds the version.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type NuvemClient } from '../client/mod.ts';
import { SyncFolder } from '../client/sync.ts';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { sleep, until } from './_support/sleep.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const test = suite('nuvem sync fetches from the node that holds the bytes');
let cluster: Cluster;
let dir: TempDir;
const clients: NuvemClient[] = [];
const mirrors = new Set<SyncFolder>();
let counter = 0;
const MiB = 1024 * 1024;

interface Side {
  dir: string;
  errors: string[];
  warnings: string[];
  mirror?: SyncFolder;
}

function client(k: number): NuvemClient {
  const c = createClient({ broker: cluster.brokerUrl, prefer: cluster.id(k) });
  clients.push(c);
  return c;
}

async function startSide(k: number, remote: string, name: string, settleMs: number | undefined = 200): Promise<Side> {
  const side: Side = { dir: join(dir.path, `${remote}-${name}`), errors: [], warnings: [] };
  mkdirSync(side.dir, { recursive: true });
  const mirror = new SyncFolder({
    dir: side.dir, client: client(k), remote, host: name, settleMs,
    log: (level, msg, fields) => {
      if (level === 'error') side.errors.push(`${msg} ${JSON.stringify(fields ?? {})}`);
      if (level === 'warn') side.warnings.push(`${msg} ${JSON.stringify(fields ?? {})}`);
    },
  });
  mirror.on('error', ({ path, error }) => side.errors.push(`${path ?? ''}: ${error.message}`));
  mirrors.add(mirror);
  side.mirror = mirror;
  await mirror.start();
  return side;
}

const fileSha = (path: string) => (existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : undefined);

/** Cuts node k off from the other nodes' notices and statuses (its own status still goes out); returns the undo. */
function holdBack(k: number): () => void {
  const aedes = cluster.aedes()!;
  const clientId = `nuvem-node-${cluster.id(k)}`;
  const own = `nuvem/nodes/${cluster.id(k)}/`;
  const before = aedes.authorizeForward;
  aedes.authorizeForward = (c, packet) => {
    const topic = packet.topic;
    if (c?.id === clientId && !topic.startsWith(own) && (topic.startsWith('nuvem/files/') || topic.startsWith('nuvem/nodes/'))) return null;
    return before.call(aedes, c, packet);
  };
  return () => {
    aedes.authorizeForward = before;
  };
}

const sent = async () => Promise.all(cluster.ks.map((k) => cluster.metric(k, 'nuvem_sent_bytes_total')));

test.before(async () => {
  cluster = await startCluster({ nodes: 3, label: 'sync-origin' });
  dir = tempDir('sync-origin');
});

test.after(async () => {
  for (const mirror of mirrors) await mirror.close();
  for (const c of clients) await c.close();
  await cluster?.close();
  dir?.cleanup();
});

test('with its node held back, B gets a file written in A whole, served by the origin (node-1)', async () => {
  const remote = `t${++counter}`;
  const a = await startSide(1, remote, 'A');
  const b = await startSide(2, remote, 'B');
  const release = holdBack(2);
  try {
    await sleep(200); // messages already in flight to node-2 are delivered
    const before = await sent();
    const bytes = randomBytes(2 * MiB);
    writeFileSync(join(a.dir, 'big.bin'), bytes);
    await until('B to hold big.bin whole', () => fileSha(join(b.dir, 'big.bin')) === sha256(bytes), 20_000);
    const after = await sent();
    assert.is((await cluster.get(2, `${remote}/big.bin`)).status, 404, 'node-2 has not applied the change (held back)');
    assert.ok(after[0] - before[0] >= bytes.length, `node-1 served the bytes (sent ${after[0] - before[0]})`);
    assert.is(after[1] - before[1], 0, 'node-2 served nothing');
    assert.is(after[2] - before[2], 0, 'node-3 served nothing: the origin holds the bytes for sure');
    assert.equal(b.errors, []);
    assert.equal(a.errors, []);
  } finally {
    release();
  }
  await until('node-2 to catch up once released', async () => (await cluster.get(2, `${remote}/big.bin`)).status === 200, 20_000);
});

test('bytes that fail their SHA-256 at B\'s own node are fetched again from another node', async () => {
  const remote = `t${++counter}`;
  const a = await startSide(1, remote, 'A');
  const bytes = randomBytes(MiB + 7);
  writeFileSync(join(a.dir, 'damaged.bin'), bytes);
  for (const k of cluster.ks) {
    await until(`node ${k} to hold damaged.bin`, async () => sha256((await cluster.get(k, `${remote}/damaged.bin`)).body) === sha256(bytes), 20_000);
  }
  // node-2's copy damaged on disk (same size and mtime): it serves wrong bytes under the right record.
  const onDisk = join(cluster.dataDir(2), 'files', remote, 'damaged.bin');
  const { mtime } = statSync(onDisk);
  const damaged = Buffer.from(bytes);
  damaged[1000] ^= 0xff;
  writeFileSync(onDisk, damaged);
  utimesSync(onDisk, mtime, mtime);
  assert.is.not(sha256((await cluster.get(2, `${remote}/damaged.bin`)).body), sha256(bytes), 'node-2 serves the damaged copy');

  const b = await startSide(2, remote, 'B');
  await until('B to hold damaged.bin whole', () => fileSha(join(b.dir, 'damaged.bin')) === sha256(bytes), 20_000);
  await b.mirror!.idle();
  assert.equal(b.errors, []);
  assert.ok(b.warnings.some((w) => w.includes('again from another node') && w.includes('node-2')), b.warnings.join('\n'));
  assert.is(fileSha(join(b.dir, 'damaged.bin')), sha256(bytes));
});

test('a file written with pauses longer than the settle time: B only ever holds states A\'s file went through, and ends whole', async () => {
  const remote = `t${++counter}`;
  const a = await startSide(1, remote, 'A', undefined); // the default settle time
  const b = await startSide(2, remote, 'B', undefined);
  const parts = Array.from({ length: 5 }, () => randomBytes(300_000));
  const whole = Buffer.concat(parts);
  const prefixes = new Set(parts.map((_, i) => sha256(Buffer.concat(parts.slice(0, i + 1)))));
  const seen = new Set<string>();
  let writing = true;
  const watching = (async () => {
    while (writing || fileSha(join(b.dir, 'slow.bin')) !== sha256(whole)) {
      const now = fileSha(join(b.dir, 'slow.bin'));
      if (now !== undefined) seen.add(now);
      await sleep(10);
    }
  })();
  const file = await open(join(a.dir, 'slow.bin'), 'w');
  try {
    for (const part of parts) {
      await file.write(part);
      await sleep(400);
    }
  } finally {
    await file.close();
    writing = false;
  }
  await Promise.race([watching, sleep(20_000).then(() => Promise.reject(new Error('B never held the whole file')))]);
  for (const state of seen) assert.ok(prefixes.has(state), `B held a state A's file never was in: ${state}`);
  assert.is(fileSha(join(b.dir, 'slow.bin')), sha256(whole));
  assert.equal(a.errors, []);
  assert.equal(b.errors, []);
});

test('a read naming a dead origin as the holder is served by another node holding the version', async () => {
  const remote = `t${++counter}`;
  const bytes = randomBytes(MiB);
  const put = await cluster.put(1, `${remote}/x.bin`, bytes);
  assert.is(put.status, 201);
  await until('node-3 to hold x.bin', async () => (await cluster.get(3, `${remote}/x.bin`)).status === 200, 20_000);
  const release = holdBack(2);
  const reader = client(2);
  try {
    await cluster.kill(1);
    const res = await reader.get(`${remote}/x.bin`, { from: cluster.id(1), exclude: [cluster.id(2)] });
    const body = new Uint8Array(await res.arrayBuffer());
    assert.is(sha256(body), sha256(bytes));
    assert.is(res.headers.get('x-nuvem-node'), cluster.id(3));
  } finally {
    release();
    await cluster.restart(1);
  }
});

test.run();
