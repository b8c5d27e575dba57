/**
 * Catch-up carries small files' bytes in its log pages (DESIGN.md section 3):
 * a returning node applies thousands of small changes per group commit
 * instead of one content fetch per file. Pages are bounded in bytes; the
 * bytes are checked against each change's SHA-256 before anything commits.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { carryBytes } from '../nodes/catch_up.ts';
import type { Change } from '../protocol/record.ts';
import { sha256, startCluster } from './_support/cluster.ts';
import { put } from './_support/http_api.ts';
import { inProcessNode } from './_support/in_process.ts';
import { parsePrometheus, sampleValue } from './_support/prometheus.ts';
import { until } from './_support/sleep.ts';

const KiB = 1024;

function change(seq: number, size: number, fields: Partial<Change> = {}): Change {
  return {
    path: `f${seq}`, type: 'file', version: `v${seq}`, size, sha256: `${seq}`.padStart(64, '0'), modified: 0,
    contentType: 'application/octet-stream', deleted: false, origin: 'n1', seq, op: 'put', ...fields,
  } as Change;
}

// ---

const pages = suite('log pages carrying bytes');

pages('a page stops before the change whose bytes would pass the limit; that one starts the next page', () => {
  const changes = [1, 2, 3, 4, 5].map((s) => change(s, 40 * KiB));
  const bytesOf = (c: Change) => new Uint8Array(c.size);
  const first = carryBytes(changes, { bytesOf, maxBytes: 100 * KiB });
  assert.equal(first.changes.map((c) => c.seq), [1, 2]);
  assert.equal([...first.bytes.keys()], [changes[0].sha256, changes[1].sha256]);
  const next = carryBytes(changes.slice(2), { bytesOf, maxBytes: 100 * KiB });
  assert.equal(next.changes.map((c) => c.seq), [3, 4]);
});

pages('tombstones, folders and content without bytes here pass without bytes; a change too big alone goes without them', () => {
  const changes = [
    change(1, 0, { deleted: true, op: 'delete' }),
    change(2, 0, { type: 'folder', op: 'mkcol' }),
    change(3, 10),
    change(4, 200 * KiB),
  ];
  const page = carryBytes(changes, { bytesOf: (c) => (c.seq === 3 ? undefined : new Uint8Array(c.size)), maxBytes: 100 * KiB });
  assert.equal(page.changes.map((c) => c.seq), [1, 2, 3], 'the big one waits for a page of its own');
  assert.is(page.bytes.size, 0);
  const alone = carryBytes(changes.slice(3), { bytesOf: (c) => new Uint8Array(c.size), maxBytes: 100 * KiB });
  assert.equal(alone.changes.map((c) => c.seq), [4]);
  assert.is(alone.bytes.size, 0, 'sent without its bytes: fetched by the node that applies it');
});

pages('a page cut by bytes never ends inside a seq given to two changes (an origin restored from an old copy)', () => {
  const twice = change(2, 40 * KiB, { path: 'g2', version: 'w2', sha256: 'e'.padStart(64, '0') });
  const changes = [change(1, 40 * KiB), change(2, 40 * KiB), twice, change(3, 10)];
  const bytesOf = (c: Change) => new Uint8Array(c.size);
  const first = carryBytes(changes, { bytesOf, maxBytes: 100 * KiB });
  assert.equal(first.changes.map((c) => c.version), ['v1'], 'seq 2 comes whole with the next page');
  assert.equal([...first.bytes.keys()], [changes[0].sha256]);
  const next = carryBytes(changes.slice(1), { bytesOf, maxBytes: 100 * KiB });
  assert.equal(next.changes.map((c) => c.version), ['v2', 'w2', 'v3']);
  // A seq whose two changes alone pass the limit: both go, the second without its bytes.
  const big = carryBytes(changes.slice(1), { bytesOf, maxBytes: 50 * KiB });
  assert.equal(big.changes.map((c) => c.version), ['v2', 'w2', 'v3']);
  assert.equal([...big.bytes.keys()].sort(), [changes[1].sha256, changes[3].sha256].sort());
});

pages('GET /internal/log?bytes=N: small files\' bytes in base64 by SHA-256, a page larger than N split', async () => {
  const node = await inProcessNode();
  try {
    const bodies = [0, 1, 2, 3, 4].map((i) => Buffer.alloc(40 * KiB, i + 1));
    for (let i = 0; i < 5; i++) assert.is((await put(node, `p/${i}.bin`, bodies[i])).status, 201);
    const seen: number[][] = [];
    let after = 0;
    while (after < 5) {
      const res = await node.request(`/internal/log?origin=${node.id}&after=${after}&limit=100&bytes=100000`);
      assert.is(res.status, 200);
      const page = await res.json();
      seen.push(page.changes.map((c: any) => c.seq));
      for (const c of page.changes) {
        const carried = Buffer.from(page.bytes[c.sha256], 'base64');
        assert.is(sha256(carried), c.sha256, `seq ${c.seq}: carried bytes match the record`);
        assert.equal(carried, bodies[c.seq - 1]);
      }
      assert.ok(Object.values(page.bytes).reduce((n: number, b: any) => n + Buffer.from(b, 'base64').length, 0) <= 100000);
      after = page.changes[page.changes.length - 1].seq;
    }
    assert.equal(seen, [[1, 2], [3, 4], [5]]);
    const plain = await (await node.request(`/internal/log?origin=${node.id}&after=0&limit=100`)).json();
    assert.is(plain.changes.length, 5, 'without ?bytes, the log as before');
    assert.is(plain.bytes, undefined);
  } finally {
    await node.close();
  }
});

pages.run();

// ---

const cluster10k = suite('catch-up of 10,000 small files');

cluster10k('a node back from the dead gets 10,000 4 KiB files from log pages, verified by SHA-256 on every node', async () => {
  const cluster = await startCluster({ nodes: 3, label: 'catch-up-10k' });
  const N = 10_000;
  const bodyOf = (i: number) => {
    const b = Buffer.alloc(4 * KiB, i % 251);
    b.writeUInt32LE(i, 0);
    return b;
  };
  try {
    await cluster.waitMesh();
    await cluster.kill(3);
    let next = 0;
    const writer = async () => {
      while (next < N) {
        const i = next++;
        const res = await cluster.put(1, `tree/${i % 100}/${i}.bin`, bodyOf(i), { w: 1 });
        assert.is(res.status, 201, `PUT ${i}: ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, writer));
    const contentBefore = await contentFetches(cluster, 1) + await contentFetches(cluster, 2);
    const started = performance.now();
    await cluster.restart(3);
    await until('node-3 caught up', async () => (await cluster.metric(3, 'nuvem_files')) === N, 120_000);
    console.log(`  node-3 caught up with ${N} small files in ${((performance.now() - started) / 1000).toFixed(1)} s (from its restart; load-dependent)`);
    const fetched = await contentFetches(cluster, 1) + await contentFetches(cluster, 2) - contentBefore;
    assert.ok(fetched < N / 100, `the bytes came with the log pages, not ${fetched} content fetches`);
    console.log(`  changes applied by catch-up: ${await cluster.metric(3, 'nuvem_catch_up_changes_total')}, content fetched: ${fetched}`);
    for (const k of cluster.ks) {
      const records = (await cluster.list(k)).filter((r) => r.type === 'file');
      assert.is(records.length, N, `node-${k} lists every file`);
      for (const r of records) {
        const i = Number(r.path.split('/')[2].slice(0, -4));
        const expected = sha256(bodyOf(i));
        assert.is(r.sha256, expected, `node-${k}: ${r.path} record`);
        assert.is(sha256(readFileSync(join(cluster.dataDir(k), 'files', r.path))), expected, `node-${k}: ${r.path} on disk`);
      }
    }
    for (const i of [0, 4999, 9999]) {
      assert.is(sha256((await cluster.get(3, `tree/${i % 100}/${i}.bin`)).body), sha256(bodyOf(i)), `node-3 serves ${i}`);
    }
  } finally {
    await cluster.close();
  }
});

async function contentFetches(cluster: Awaited<ReturnType<typeof startCluster>>, k: number): Promise<number> {
  const text = (await cluster.request(k, '/metrics')).body.toString();
  return sampleValue(parsePrometheus(text), 'nuvem_http_requests_total', { route: '/internal/content/{sha256}' });
}

cluster10k.run();
