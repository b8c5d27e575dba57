/**
 * A file and a folder with one name, made on two nodes that could not see
 * each other (nodes/clash.ts): the higher-ranked record keeps the name on
 * every node, whatever order the changes arrive in; the other is kept as a
 * revision; every node ends with the same listing and bytes; and the origins'
 * later changes still apply.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clashingWith, clashTombstone, splitClash } from '../nodes/clash.ts';
import { wins } from '../nodes/conflict.ts';
import type { FileRecord } from '../protocol/record.ts';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { sleep } from './_support/sleep.ts';

const rec = (path: string, version: string, fields: Partial<FileRecord> = {}): FileRecord => ({
  path, version, type: 'file', size: 1, sha256: 'a'.repeat(64), modified: 0, contentType: 'x', deleted: false, origin: 'n1', seq: 1, ...fields,
});

/** An index of `records` as clash.ts reads it. */
function lookup(records: FileRecord[]) {
  const byPath = new Map(records.map((r) => [r.path, r]));
  return {
    get: (p: string) => byPath.get(p),
    range: (lo: string, hi: string, limit: number) =>
      records.filter((r) => !r.deleted && r.path > lo && r.path < hi).sort((a, b) => (a.path < b.path ? -1 : 1)).slice(0, limit),
  };
}

const pure = suite('clash rule');

pure('a file clashes with files at its ancestors and with everything under it; a folder only with files at its ancestors', () => {
  const here = [rec('a', 'v1'), rec('a/b/c', 'v2'), rec('a/b', 'v3', { type: 'folder' }), rec('ab', 'v4'), rec('a/x', 'v5', { deleted: true })];
  assert.equal(clashingWith(rec('a', 'v9'), lookup(here)).map((r) => r.path).sort(), ['a/b', 'a/b/c']);
  assert.equal(clashingWith(rec('a/b/d', 'v9'), lookup(here)).map((r) => r.path), ['a']);
  assert.equal(clashingWith(rec('a/q', 'v9', { type: 'folder' }), lookup(here)).map((r) => r.path), ['a']);
  assert.equal(clashingWith(rec('a', 'v9', { deleted: true }), lookup(here)), []);
});

pure('the higher-ranked record keeps the name; the clash tombstone outranks the loser and loses to later changes of its path', () => {
  const file = rec('a', '000000000002-0000-n1');
  const under = rec('a/b', '000000000001-0000-n2', { origin: 'n2', seq: 7 });
  const newer = rec('a/c', '000000000003-0000-n2', { origin: 'n2', seq: 8 });
  const { killers, victims } = splitClash(file, [under, newer]);
  assert.equal(killers.map((r) => r.path), ['a/c']);
  assert.equal(victims.map((r) => r.path), ['a/b']);
  const t = clashTombstone(under, file);
  assert.equal([t.path, t.origin, t.seq, t.deleted, t.prev, t.version, t.op], ['a/b', 'n2', 7, true, under.version, file.version, 'delete']);
  assert.ok(wins(t, under), 'the tombstone outranks the record it removed');
  assert.not.ok(wins(t, rec('a/b', '000000000004-0000-n2')), 'a later change of the path outranks the tombstone');
});

pure.run();

// ---

const cluster = suite('file and folder clashes across nodes');
let c: Cluster;

cluster.before(async () => {
  // Anti-entropy only at start (the interval is longer than the test): while
  // the broker is down, nodes 1 and 2 cannot see each other's writes.
  c = await startCluster({ nodes: 3, antiEntropyMs: 600_000, label: 'clash' });
  await sleep(1500); // the start-up anti-entropy pass is over
});

cluster.after(async () => {
  await c?.close();
});

/** Writes one side of a clash on node k (each must be accepted: the node does not see the other side). */
async function write(k: number, op: 'put' | 'mkcol', path: string): Promise<void> {
  const res = op === 'put' ? await c.put(k, path, `${path} from node-${k}`, { w: 1 }) : await c.mkcol(k, path, { w: 1 });
  assert.ok(res.status === 201 || res.status === 200, `${op} ${path} on node-${k}: ${res.status} ${res.body.toString()}`);
}

cluster('a file on one node and a folder of the same name on another (a partition): every node converges to the same tree, the later one keeps the name, the other is a revision', async () => {
  await c.stopBroker();
  // In this order, so the later write (higher version) is known per case.
  await write(1, 'put', 's1/a'); //         s1: a file, then a file under it: the file under it keeps the name
  await write(2, 'put', 's1/a/b');
  await write(2, 'mkcol', 's2/a'); //       s2: an empty folder, then a file: the file keeps the name
  await write(1, 'put', 's2/a');
  await write(1, 'put', 's3/a/b/c'); //     s3: a file deep under, then a file: the file keeps the name
  await write(2, 'put', 's3/a');
  await write(1, 'put', 's4/a'); //         s4: a file, then an empty folder: the folder keeps the name
  await write(2, 'mkcol', 's4/a');
  await write(2, 'put', 's5/a/x'); //       s5: a file under, a file, a file under again: the last one and the first one's
  await write(1, 'put', 's5/a'); //             loser: s5/a beats s5/a/x, s5/a/y beats s5/a
  await write(2, 'put', 's5/a/y');
  await c.startBroker();

  const listing = await c.waitConverged({ timeoutMs: 30_000 });
  const shown = listing.filter((r) => /^s\d/.test(r.path)).map((r) => `${r.path} ${r.type}`).sort();
  assert.equal(shown, ['s1/a/b file', 's2/a file', 's3/a file', 's4/a folder', 's5/a/y file']);
  for (const k of c.ks) {
    for (const [path, from] of [['s1/a', 1], ['s3/a/b/c', 1], ['s4/a', 1], ['s5/a/x', 2], ['s5/a', 1]] as const) {
      const revisions = (await c.request(k, `/revisions/${path}`)).json.revisions as { sha256: string; version: string }[];
      const kept = revisions.find((r) => r.sha256 === sha256(`${path} from node-${from}`));
      assert.ok(kept, `node-${k} keeps the bytes of ${path} as a revision`);
      // Small files: the loser's bytes are in the index (small_files.ts), still served.
      const old = await c.request(k, `/files/${path}?version=${kept.version}`);
      assert.is(old.status, 200, `node-${k} serves the revision of ${path}`);
      assert.is(old.body.toString(), `${path} from node-${from}`);
    }
    assert.is((await c.get(k, 's2/a')).body.toString(), 's2/a from node-1');
  }

  // Both origins' later changes still apply everywhere.
  for (const k of [1, 2]) {
    const res = await c.put(k, `later/from-${k}.txt`, `later ${k}`, { w: 'auto' });
    assert.is(res.status, 201, `w=auto PUT on node-${k} after the clashes: ${res.status} ${res.body.toString()}`);
    for (const j of c.ks) assert.is((await c.get(j, `later/from-${k}.txt`)).body.toString(), `later ${k}`);
  }
  assert.equal(c.crashes(), []);
});

cluster.run();
