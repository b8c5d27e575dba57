// The index's totals (files, bytes, tombstones: every heartbeat reports
// them) are counted once when the index opens and then moved by each commit,
// instead of counted by a scan each time. Checked here against a count of the
// entries after every kind of write, including an overwrite, a put over a
// tombstone and a purge, and on an index opened with entries already in it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'libsql';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';

async function* body(size: number): AsyncIterable<Uint8Array> {
  yield new Uint8Array(size).fill(7);
}

function counted(store: Store): { files: number; bytes: number; tombstones: number } {
  let files = 0, bytes = 0, tombstones = 0;
  for (const e of store.index.all()) {
    if (e.deleted) tombstones++;
    else if (e.type === 'file') {
      files++;
      bytes += e.size;
    }
  }
  return { files, bytes, tombstones };
}

test('totals follow puts, overwrites, folders, deletes, moves and purges', async () => {
  const dir = tempDir('totals');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a', trashMs: 0 }); // no trash: a tombstone may be purged at once
  try {
    const check = (what: string, expected: { files: number; bytes: number; tombstones: number }) => {
      assert.equal(store.index.totals(), expected, what);
      assert.equal(counted(store), expected, `${what} (counted)`);
    };
    check('empty', { files: 0, bytes: 0, tombstones: 0 });
    await store.put('docs/a.bin', body(100));
    await store.put('docs/b.bin', body(30));
    check('two puts', { files: 2, bytes: 130, tombstones: 0 });
    await store.put('docs/a.bin', body(1000));
    check('an overwrite', { files: 2, bytes: 1030, tombstones: 0 });
    await store.mkcol('empty');
    check('a folder', { files: 2, bytes: 1030, tombstones: 0 });
    const [tomb] = await store.remove('docs/b.bin');
    check('a delete', { files: 1, bytes: 1000, tombstones: 1 });
    await store.move('docs/a.bin', 'docs/c.bin');
    check('a move', { files: 1, bytes: 1000, tombstones: 2 });
    await store.put('docs/b.bin', body(5));
    check('a put over a tombstone', { files: 2, bytes: 1005, tombstones: 1 });
    const moved = store.index.get('docs/a.bin')!;
    assert.is(await store.purge([{ path: 'docs/a.bin', version: moved.version }]), 1);
    check('a purge', { files: 2, bytes: 1005, tombstones: 0 });
    assert.ok(tomb.deleted);
  } finally {
    store.close();
    dir.cleanup();
  }
});

test('an index opened with entries in it is counted, then kept', async () => {
  const dir = tempDir('totals');
  // Entries written through a plain connection, as a node that ran before
  // would have left them. (Not by a first Store: an index cannot be opened
  // twice in one process, as it stays open until its statements are
  // collected.)
  mkdirSync(join(dir.path, '.nuvem'));
  const db = new Database(join(dir.path, '.nuvem', 'index.db'));
  db.exec(`CREATE TABLE entries (
    path TEXT PRIMARY KEY, type TEXT NOT NULL, version TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    modified INTEGER NOT NULL, content_type TEXT NOT NULL, deleted INTEGER NOT NULL, origin TEXT NOT NULL, seq INTEGER NOT NULL,
    prev TEXT, local_size INTEGER, local_mtime REAL, local_ino INTEGER) WITHOUT ROWID;
    INSERT INTO entries VALUES
      ('x', 'folder', '1', 0, '', 1, '', 0, 'node-a', 1, NULL, NULL, NULL, NULL),
      ('x/1.bin', 'file', '2', 10, '${'a'.repeat(64)}', 1, 'application/octet-stream', 0, 'node-a', 2, NULL, NULL, NULL, NULL),
      ('x/2.bin', 'file', '3', 0, '', 1, '', 1, 'node-a', 3, NULL, NULL, NULL, NULL);`);
  db.close();
  // And its files folder, with the live file in it (nodes/volume.ts refuses an index whose files are all missing).
  mkdirSync(join(dir.path, 'files', 'x'), { recursive: true });
  writeFileSync(join(dir.path, 'files', 'x', '1.bin'), 'a'.repeat(10));
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  try {
    assert.equal(store.index.totals(), { files: 1, bytes: 10, tombstones: 1 });
    await store.put('x/3.bin', body(300));
    assert.equal(store.index.totals(), { files: 2, bytes: 310, tombstones: 1 });
  } finally {
    store.close();
    dir.cleanup();
  }
});

test.run();
