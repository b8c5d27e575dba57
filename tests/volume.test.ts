/**
 * A missing volume is not a mass delete (nodes/volume.ts): a node that knows
 * files but finds no files folder, or a folder without its marker and
 * without its files, refuses to start; a start-up check that would
 * tombstone most files stops until told (--accept-vanished), and a rescan
 * holds such deletes back. Real node processes: a store is reopened only by
 * a new process.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../nodes/store.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';

/** A node with `count` files in `dataDir`, stopped again. */
async function nodeWith(dataDir: string, count: number): Promise<void> {
  const node = await startNodeProcess({ dataDir });
  for (let i = 0; i < count; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, count - i) }, (_, j) =>
      fetch(`${node.url}/files/f/${i + j}.txt`, { method: 'PUT', body: `file ${i + j}` }).then((r) => assert.is(r.status, 201))));
  }
  await node.stop();
}

/** Starts a node expected to refuse; answers what it said. */
async function refusal(dataDir: string, args: string[] = []): Promise<string> {
  const err = await startNodeProcess({ dataDir, args }).then(async (n: NodeProcess) => {
    await n.stop();
    return undefined;
  }, (e: Error) => e);
  assert.ok(err, 'the node started');
  return err!.message;
}

async function listing(node: NodeProcess): Promise<{ path: string }[]> {
  return (await (await fetch(`${node.url}/files/?recursive=true`)).json()).entries;
}

test('a new store marks its files folder, and the marker is no path of the store', async () => {
  const dir = tempDir('volume');
  try {
    const store = await Store.open({ dataDir: dir.path, nodeId: 'n1' });
    assert.ok(existsSync(join(dir.path, 'files', '.nuvem')));
    const { changed, skipped } = await store.recover({ startUp: true });
    assert.equal([changed, skipped], [[], []]);
    assert.equal(store.list('', { recursive: true, limit: 100 }).entries, []);
    store.close();
  } finally {
    dir.cleanup();
  }
});

test('a missing files folder, or an empty one without its marker, refuses the start; --accept-vanished records the files as deleted', async () => {
  const dir = tempDir('volume');
  try {
    await nodeWith(dir.path, 3);
    await rm(join(dir.path, 'files'), { recursive: true });
    assert.match(await refusal(dir.path), /files folder .* is missing.*mounted/);
    await mkdir(join(dir.path, 'files')); // an empty mount point
    assert.match(await refusal(dir.path), /no \.nuvem marker.*mounted/);
    const node = await startNodeProcess({ dataDir: dir.path, args: ['--accept-vanished'] });
    assert.equal(await listing(node), []);
    await node.stop();
    const again = await startNodeProcess({ dataDir: dir.path }); // marked now, and nothing left to vanish
    await again.stop();
  } finally {
    dir.cleanup();
  }
});

test('a store from before markers, with its files in place, gets its marker and starts', async () => {
  const dir = tempDir('volume');
  try {
    await nodeWith(dir.path, 2);
    await unlink(join(dir.path, 'files', '.nuvem'));
    const node = await startNodeProcess({ dataDir: dir.path });
    assert.ok(existsSync(join(dir.path, 'files', '.nuvem')));
    assert.is((await listing(node)).length, 2);
    await node.stop();
  } finally {
    dir.cleanup();
  }
});

test('most files gone: the start-up check refuses; with --accept-vanished they become tombstones', async () => {
  const dir = tempDir('volume');
  try {
    await nodeWith(dir.path, 150);
    for (let i = 0; i < 120; i++) await unlink(join(dir.path, 'files', 'f', `${i}.txt`));
    assert.match(await refusal(dir.path), /120 of the 150 files .* are gone/);
    const node = await startNodeProcess({ dataDir: dir.path, args: ['--accept-vanished'] });
    assert.is((await listing(node)).length, 30);
    await node.stop();
  } finally {
    dir.cleanup();
  }
});

test('a rescan that finds most files gone holds the deletes back; a person\'s few deletes go through', async () => {
  const dir = tempDir('volume');
  try {
    const store = await Store.open({ dataDir: dir.path, nodeId: 'n1' });
    for (let i = 0; i < 150; i++) await store.put(`f/${i}.txt`, (async function* () { yield new TextEncoder().encode(`file ${i}`); })());
    for (let i = 0; i < 120; i++) await unlink(join(dir.path, 'files', 'f', `${i}.txt`));
    const rescan = await store.recover();
    assert.equal([rescan.changed.length, rescan.heldBack], [0, 120]);
    assert.is(store.get('f/0.txt')?.deleted, false);
    await unlink(join(dir.path, 'files', 'f', '149.txt'));
    assert.equal((await store.reconcilePaths(['f/149.txt'])).changed, ['f/149.txt']);
    assert.is(store.get('f/149.txt')?.deleted, true);
    store.close();
  } finally {
    dir.cleanup();
  }
});

test.run();
