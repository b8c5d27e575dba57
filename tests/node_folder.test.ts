/**
 * A node's files folder as a drive (DESIGN.md section 6): files and folders
 * created, changed, renamed, moved and deleted by hand in one node's
 * `files/` reach every node; writes the node applies from peers never come
 * back as versions of their own; a file written slowly becomes one version;
 * the change log says what happened and where it came from.
 */
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, sha256, type Cluster } from './_support/cluster.ts';
import { sleep, until } from './_support/sleep.ts';

let cluster: Cluster;
const files = (k: number, path = '') => join(cluster.dataDir(k), 'files', path);

/** Waits until every node lists `path` live with `sha` (or, with `sha` undefined, not at all); answers how long it took. */
async function everywhere(path: string, sha: string | undefined | 'folder'): Promise<number> {
  const { ms } = await until(`${path} on every node`, async () => {
    for (const k of cluster.ks) {
      const r = (await cluster.list(k)).find((e) => e.path === path && !e.deleted);
      if (sha === undefined ? r !== undefined : sha === 'folder' ? r?.type !== 'folder' : r?.sha256 !== sha) return false;
    }
    return true;
  }, 15_000);
  return ms;
}

async function changeLog(k: number): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(cluster.dataDir(k), '.nuvem', 'change_log.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test.before(async () => {
  cluster = await startCluster({ nodes: 3, watch: true, label: 'folder' });
  await cluster.waitMesh();
});

test.after(async () => {
  await cluster?.close();
});

test('create, modify, rename, delete a file by hand: every node follows', async () => {
  await writeFile(files(1, 'a.txt'), 'first');
  const created = await everywhere('a.txt', sha256('first'));
  await writeFile(files(1, 'a.txt'), 'second version');
  await everywhere('a.txt', sha256('second version'));
  const revisions = (await cluster.request(2, '/revisions/a.txt')).json.revisions;
  assert.equal(revisions.map((r: { sha256: string }) => r.sha256), [sha256('first')]);
  await rename(files(1, 'a.txt'), files(1, 'b.txt'));
  await everywhere('b.txt', sha256('second version'));
  await everywhere('a.txt', undefined);
  await rm(files(1, 'b.txt'));
  await everywhere('b.txt', undefined);
  console.log(`    a file created in node-1's folder was on every node after ${created.toFixed(0)} ms`);
  const log = await changeLog(1);
  assert.equal(log.map((l) => [l.type, l.path, l.from, l.source]), [
    ['created', 'a.txt', undefined, 'folder'],
    ['modified', 'a.txt', undefined, 'folder'],
    ['moved', 'b.txt', 'a.txt', 'folder'],
    ['deleted', 'b.txt', undefined, 'folder'],
  ]);
  const peerLog = await changeLog(2);
  assert.equal(peerLog.map((l) => [l.type, l.path, l.source]), [
    ['created', 'a.txt', `peer:${cluster.id(1)}`],
    ['modified', 'a.txt', `peer:${cluster.id(1)}`],
    ['moved', 'b.txt', `peer:${cluster.id(1)}`],
    ['deleted', 'b.txt', `peer:${cluster.id(1)}`],
  ]);
  assert.is(log[0].sha256, sha256('first'));
  assert.is(log[0].size, 5);
});

test('folders: an empty one made by hand, and a folder moved with its files', async () => {
  await mkdir(files(2, 'empty/inner'), { recursive: true });
  await everywhere('empty/inner', 'folder');
  await mkdir(files(3, 'docs'));
  await writeFile(files(3, 'docs/one.txt'), 'one');
  await writeFile(files(3, 'docs/two.txt'), 'two');
  await everywhere('docs/two.txt', sha256('two'));
  await everywhere('docs/one.txt', sha256('one'));
  await rename(files(3, 'docs'), files(3, 'papers'));
  await everywhere('papers/one.txt', sha256('one'));
  await everywhere('papers/two.txt', sha256('two'));
  await everywhere('docs/one.txt', undefined);
  await everywhere('docs/two.txt', undefined);
});

test('writes applied from peers create no versions of their own (no echo)', async () => {
  const put = await cluster.put(2, 'echo/e.bin', 'from the API of node-2');
  assert.is(put.status, 201);
  const etag = put.headers.get('etag');
  await everywhere('echo/e.bin', sha256('from the API of node-2'));
  await sleep(2500); // longer than the watcher's settle time: an echo would have been committed by now
  for (const k of cluster.ks) {
    const head = await cluster.request(k, '/files/echo/e.bin', { method: 'HEAD' });
    assert.is(head.headers.get('etag'), etag, `node-${k}`);
    assert.equal((await cluster.request(k, '/revisions/echo/e.bin')).json.revisions, [], `node-${k}`);
  }
  const lines = (await changeLog(1)).filter((l) => l.path === 'echo/e.bin');
  assert.equal(lines.map((l) => [l.type, l.source]), [['created', `peer:${cluster.id(2)}`]]);
  assert.equal((await changeLog(2)).filter((l) => l.path === 'echo/e.bin').map((l) => l.source), ['api']);
});

test('a file written slowly over 3 s becomes one version, whole', async () => {
  const chunks = Array.from({ length: 10 }, (_, i) => `chunk ${i} `.repeat(100));
  await writeFile(files(1, 'slow.log'), '');
  for (const c of chunks) {
    await appendFile(files(1, 'slow.log'), c);
    await sleep(330);
  }
  const whole = chunks.join('');
  await everywhere('slow.log', sha256(whole));
  await sleep(1500);
  const revisions = (await cluster.request(3, '/revisions/slow.log')).json.revisions;
  // At most the empty file that stood there before the first append settled; never a part of it.
  for (const r of revisions as { size: number }[]) assert.is(r.size, 0);
  assert.is((await cluster.get(3, 'slow.log')).body.toString(), whole);
});

test('a change made while the node was down is picked up when it starts', async () => {
  await cluster.kill(2);
  await writeFile(files(2, 'offline.txt'), 'written while node-2 was down');
  await cluster.restart(2);
  await everywhere('offline.txt', sha256('written while node-2 was down'));
  assert.equal(cluster.crashes(), []);
});

test.run();
