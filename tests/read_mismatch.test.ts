/** A GET of a file changed on disk behind the index answers at once (503, Retry-After), never spins (nodes/reads.ts). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../nodes/store.ts';
import { NuvemError } from '../protocol/errors.ts';
import { tempDir } from './_support/temp.ts';

test('a file edited by hand to another size is not served as its record, and the read ends', async () => {
  const dir = tempDir('read-mismatch');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'n1', smallFileBytes: 0 });
  try {
    const big = new Uint8Array(100_000).fill(7);
    await store.put('a.bin', (async function* () { yield big; })());
    await writeFile(join(dir.path, 'files', 'a.bin'), 'edited by hand');
    const outcome = await Promise.race([
      store.read('a.bin').then(() => 'served', (e) => e),
      new Promise((r) => setTimeout(() => r('still reading after 3 s'), 3000)),
    ]);
    assert.instance(outcome, NuvemError);
    assert.is((outcome as NuvemError).code, 'unavailable');
    assert.is((outcome as NuvemError).extra.retryAfter, 1);
    assert.equal((await store.reconcilePaths(['a.bin'])).changed, ['a.bin']);
    const readable = await store.read('a.bin');
    const bytes = await readable.open(0, readable.record.size - 1);
    assert.is(new TextDecoder().decode(bytes instanceof Uint8Array ? bytes : new Uint8Array(await new Response(bytes).arrayBuffer())), 'edited by hand');
  } finally {
    store.close();
    dir.cleanup();
  }
});

test.run();
