/**
 * A change that removed or replaced a small file's plain file and cannot
 * commit (a full disk) puts it back: retiring a small version notes an undo
 * step that writes the plain file again from the index (layout.ts,
 * small_files.ts), as retiring a large one links its revision back.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type DiskWork, Layout } from '../nodes/layout.ts';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';

const body = (text: string) => (async function* () { yield Buffer.from(text); })();

test('the undo of retiring a small version writes its plain file back from the index, and leaves a file that is there alone', async () => {
  const dir = tempDir('small-undo');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  try {
    await store.put('note.txt', body('small bytes'));
    await store.materialise();
    const layout = new Layout({ dataDir: dir.path, index: store.index });
    const file = layout.filePath('note.txt');
    const pending: DiskWork = { revisions: [] };
    await layout.retire(store.index.get('note.txt')!, pending);
    assert.is(pending.revisions.length, 1, 'kept as a revision, its bytes in the index');
    assert.is(pending.undo?.length, 1);
    rmSync(file); // what the failed change did to the path
    for (const step of pending.undo!.reverse()) step();
    assert.ok(existsSync(file));
    assert.is(readFileSync(file, 'utf8'), 'small bytes');
    writeFileSync(file, 'something else');
    for (const step of pending.undo!) step();
    assert.is(readFileSync(file, 'utf8'), 'something else', 'a file at the path is not overwritten');
  } finally {
    store.close();
    dir.cleanup();
  }
});

test.run();
