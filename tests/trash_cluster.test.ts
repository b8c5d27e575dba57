/**
 * The trash through the HTTP API of three node processes (with a token): a
 * deleted file is listed in `GET /trash/` on every node and brought back by
 * `POST /trash/{path}` on any node as a new version everywhere; a folder comes
 * back with its subtree; refusals are JSON (400, 401, 404, 409); an erase
 * (`DELETE ?purge=true`) removes the path, its trash entry and every kept
 * revision's bytes from every node, a node that was down while it happened
 * included, and nothing brings the erased version back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { filesTarget, sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { sleep, until } from './_support/sleep.ts';

const trash = suite('trash in a cluster');
let cluster: Cluster;

trash.before(async () => {
  cluster = await startCluster({ nodes: 3, token: 'trash-token', antiEntropyMs: 1000, label: 'trash' });
});

trash.after(async () => {
  await cluster?.close();
});

/** Content files kept as revisions on node k (`DATA/.nuvem/revs/`). */
function revFiles(k: number): string[] {
  const revs = join(cluster.dataDir(k), '.nuvem', 'revs');
  return readdirSync(revs).flatMap((d) => readdirSync(join(revs, d)).map((f) => `${d}/${f}`));
}

const trashOf = async (k: number, path = '') => {
  const res = await cluster.request(k, `/trash/${path}`);
  assert.is(res.status, 200, `GET /trash/${path} on ${cluster.id(k)}: ${res.body}`);
  return res.json.entries as { path: string; size: number; sha256: string; deleted: number; version: string; deletedVersion: string }[];
};

/** The revisions node k keeps of `path`: none once the erase tombstone is purged too (404), or none beside it. */
async function keptRevisions(k: number, path: string): Promise<unknown[]> {
  const res = await cluster.request(k, `/revisions/${path}`);
  if (res.status === 404) return [];
  assert.is(res.status, 200, res.body.toString());
  return res.json.revisions;
}

// ---

trash('a deleted file is in the trash on every node and comes back, from any node, as a new version everywhere', async () => {
  const path = 'docs/report.txt';
  const put = await cluster.put(1, path, 'quarterly numbers', { w: 'auto' });
  assert.is(put.status, 201);
  const t0 = Date.now();
  assert.is((await cluster.remove(1, path, { w: 'auto' })).status, 204);
  for (const k of cluster.ks) {
    assert.is((await cluster.get(k, path)).status, 404);
    const entries = await trashOf(k);
    const entry = entries.find((e) => e.path === path);
    assert.ok(entry, `${cluster.id(k)} lists ${path} in its trash: ${JSON.stringify(entries)}`);
    assert.is(entry.version, put.json.version, 'the version to restore is the last live one');
    assert.is(entry.size, 17);
    assert.is(entry.sha256, sha256('quarterly numbers'));
    assert.ok(entry.deleted >= t0 - 1000 && entry.deleted <= Date.now(), `deleted when: ${entry.deleted}`);
    assert.equal((await trashOf(k, 'docs')).map((e) => e.path), [path], 'GET /trash/{folder} lists what is under it');
  }
  const restored = await cluster.request(2, `/trash/${path}?w=auto`, { method: 'POST' });
  assert.is(restored.status, 201, restored.body.toString());
  const [record] = restored.json.restored;
  assert.is(record.path, path);
  assert.is(record.sha256, sha256('quarterly numbers'));
  assert.ok(record.version > put.json.version, 'a new version');
  assert.is(record.origin, 'node-2');
  for (const k of cluster.ks) {
    const got = await cluster.get(k, path);
    assert.is(got.status, 200, `${cluster.id(k)} serves the restored file`);
    assert.is(got.body.toString(), 'quarterly numbers');
    assert.is(got.headers.get('etag'), `"${record.version}"`);
    assert.equal(await trashOf(k), [], `${cluster.id(k)}'s trash is empty again`);
  }
});

trash('a deleted folder comes back with its subtree; a file written since is left as it is', async () => {
  const files = { 'album/a.jpg': 'aaa', 'album/2026/b.jpg': 'bbbb', 'album/2026/c.jpg': '' };
  for (const [p, body] of Object.entries(files)) assert.is((await cluster.put(1, p, body, { w: 'auto' })).status, 201);
  assert.is((await cluster.request(1, '/files/album?recursive=true&w=auto', { method: 'DELETE' })).status, 204);
  assert.equal((await trashOf(3, 'album')).map((e) => e.path), ['album/2026/b.jpg', 'album/2026/c.jpg', 'album/a.jpg']);
  // Someone writes album/a.jpg again before the restore: the new file stays.
  assert.is((await cluster.put(2, 'album/a.jpg', 'new', { w: 'auto' })).status, 201);
  const res = await cluster.request(3, '/trash/album?w=auto', { method: 'POST' });
  assert.is(res.status, 201, res.body.toString());
  assert.equal(res.json.restored.map((r: { path: string }) => r.path).sort(), ['album/2026/b.jpg', 'album/2026/c.jpg']);
  for (const k of cluster.ks) {
    for (const [p, body] of Object.entries({ ...files, 'album/a.jpg': 'new' })) {
      const got = await cluster.get(k, p);
      assert.is(got.status, 200, `${cluster.id(k)} ${p}`);
      assert.is(got.body.toString(), body, `${cluster.id(k)} ${p}`);
    }
  }
});

trash('refusals are JSON: 404 nothing in the trash, 409 a file is there now (also with ?version=), 400 a bad path, 401 without the token', async () => {
  const expect = async (res: Awaited<ReturnType<Cluster['request']>>, status: number, code: string) => {
    assert.is(res.status, status, res.body.toString());
    assert.is(res.json?.error, code);
    assert.type(res.json.message, 'string');
  };
  await expect(await cluster.request(1, '/trash/never/was', { method: 'POST' }), 404, 'not_found');
  assert.is((await cluster.put(1, 'live.txt', 'here', { w: 'auto' })).status, 201);
  assert.is((await cluster.remove(1, 'live.txt', { w: 'auto' })).status, 204);
  assert.is((await cluster.put(1, 'live.txt', 'here again', { w: 'auto' })).status, 201);
  await expect(await cluster.request(1, '/trash/live.txt', { method: 'POST' }), 409, 'conflict');
  const old = (await cluster.request(1, '/revisions/live.txt')).json.revisions[0].version;
  await expect(await cluster.request(1, `/trash/live.txt?version=${old}`, { method: 'POST' }), 409, 'conflict');
  await expect(await cluster.request(1, '/trash/a%00b', { method: 'POST' }), 400, 'invalid_path');
  const anonymous = await fetch(`${cluster.url(1)}/trash/`);
  assert.is(anonymous.status, 401);
  assert.is((await anonymous.json()).error, 'unauthorized');
  await expect(await cluster.request(1, '/files/nothing?purge=true', { method: 'DELETE' }), 404, 'not_found');
  assert.is((await cluster.put(1, 'full/x', 'x', { w: 'auto' })).status, 201);
  await expect(await cluster.request(1, '/files/full?purge=true', { method: 'DELETE' }), 409, 'conflict');
});

trash('DELETE ?purge=true erases a file and all its revisions on every node, one that was down included, for good', async () => {
  const path = 'secret/plans.txt';
  for (const v of ['v1', 'v2', 'v3']) assert.ok([200, 201].includes((await cluster.put(1, path, `plans ${v}`, { w: 'auto' })).status));
  const shas = ['v1', 'v2'].map((v) => sha256(`plans ${v}`));
  for (const k of cluster.ks) {
    const kept = revFiles(k).filter((f) => shas.some((s) => f.includes(s)));
    assert.is(kept.length, 2, `${cluster.id(k)} keeps v1 and v2: ${revFiles(k)}`);
  }
  await cluster.kill(3);
  const erased = await cluster.request(1, `${filesTarget(path)}?purge=true&w=auto`, { method: 'DELETE' });
  assert.is(erased.status, 204, erased.body.toString());
  const all = [...shas, sha256('plans v3')];
  for (const k of [1, 2]) {
    assert.is((await cluster.get(k, path)).status, 404);
    assert.equal(await keptRevisions(k, path), [], `${cluster.id(k)} keeps no revisions`);
    assert.equal(await trashOf(k), [], `${cluster.id(k)}: an erased file is not in the trash`);
    await until(`${cluster.id(k)} drops the bytes`, () => revFiles(k).every((f) => !all.some((s) => f.includes(s))), 5000);
  }
  await cluster.restart(3);
  await cluster.waitMesh();
  await until('node-3 applies the erase', async () => (await cluster.get(3, path)).status === 404, 20_000);
  await until('node-3 drops the bytes', () => revFiles(3).every((f) => !all.some((s) => f.includes(s))), 10_000);
  assert.equal(await keptRevisions(3, path), []);
  // Three anti-entropy passes later, no node has it back.
  await sleep(3000);
  for (const k of cluster.ks) {
    assert.is((await cluster.get(k, path)).status, 404, `${cluster.id(k)} after three passes`);
    assert.not.ok((await cluster.list(k)).some((r) => r.path === path));
  }
});

trash.run();
