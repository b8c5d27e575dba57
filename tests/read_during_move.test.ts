/**
 * A read whose file's folder is renamed by a MOVE between the index lookup
 * and the open (reads.ts, folder_move.ts) looks the file up again, once,
 * where it is now, instead of answering 404 while the file is on disk
 * (move_yield.test.ts saw that 404 once in six CI runs).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IndexDb } from '../nodes/index_db.ts';
import { Layout } from '../nodes/layout.ts';
import { readFile } from '../nodes/reads.ts';
import { SmallFileCache } from '../nodes/small_cache.ts';
import { tempDir } from './_support/temp.ts';

test('a file whose folder is renamed between the lookup and the open is read from its new place', async () => {
  const dir = tempDir('read-during-move');
  mkdirSync(join(dir.path, '.nuvem'), { recursive: true });
  const index = new IndexDb(join(dir.path, '.nuvem', 'index.db'), { keepRevisions: 10 });
  try {
    const layout = new Layout({ dataDir: dir.path, index });
    const cache = new SmallFileCache({ maxFileBytes: 0, maxBytes: 0 });
    const bytes = Buffer.alloc(100 * 1024, 7); // over the 64 KiB kept in the index: read from the files folder
    mkdirSync(join(layout.filesDir, 'many'), { recursive: true });
    writeFileSync(join(layout.filesDir, 'many', 'real.bin'), bytes);
    const st = statSync(join(layout.filesDir, 'many', 'real.bin'));
    index.commit([{ put: [{
      record: { path: 'many/real.bin', type: 'file', version: '000000000001-0000-x', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'),
        modified: 1, contentType: 'application/octet-stream', deleted: false, origin: 'x', seq: 1 },
      local: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino },
    }] }]);
    // The MOVE's rename lands after the read looked the path up and before it opens the file.
    const check = layout.refuseLinks.bind(layout);
    let moved = false;
    layout.refuseLinks = async (file: string) => {
      await check(file);
      if (moved) return;
      moved = true;
      renameSync(join(layout.filesDir, 'many'), join(layout.filesDir, 'moved'));
      layout.movingFolder({ from: 'many', to: 'moved' });
    };
    const readable = await readFile({ index, layout, cache }, 'many/real.bin');
    assert.ok(moved);
    const body = await readable.open(0, bytes.length - 1);
    const read = body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(await new Response(body as ReadableStream<Uint8Array>).arrayBuffer());
    await readable.close();
    assert.is(Buffer.compare(read, bytes), 0, 'the bytes, from the new place');
  } finally {
    index.close();
    dir.cleanup();
  }
});

test.run();
