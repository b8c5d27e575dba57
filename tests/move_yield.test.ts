/**
 * A large folder MOVE yields to the event loop (issue 16, item 13): the
 * entries move in commits of MOVE_BATCH behind a durable move intent
 * (nodes/move_intent.ts), so a node moving a folder of 50,000 entries still
 * answers other requests: a /health sent meanwhile comes back within a
 * second (a bound against a stall, not a benchmark; one transaction of every
 * entry held the node for several seconds). Reads during the move find
 * every file, at its old path or its new one.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileRecord } from '../protocol/record.ts';
import { realNode } from './_support/real_node.ts';

const N = 50_000;
const SHA_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

test('moving a folder of 50,000 entries does not hold /health for a second, and no file goes missing meanwhile', async () => {
  const { node, close } = await realNode();
  try {
    // Records written straight into the index, over an empty folder on disk (a move renames the folder, not each file)...
    mkdirSync(join(node.store.filesDir, 'many'), { recursive: true });
    for (let i = 0; i < N; i += 10_000) {
      const put: { record: FileRecord }[] = [];
      for (let j = i; j < i + 10_000; j++) {
        put.push({ record: {
          path: `many/f${j}`, type: 'file', version: `000000000001-0000-x${j}`, size: 0, sha256: SHA_EMPTY,
          modified: 1, contentType: 'text/plain', deleted: false, origin: 'x', seq: j + 1,
        } });
      }
      node.store.index.commit([{ put }]);
    }
    // ... and one real file, large enough to be read from the files folder, checked by the reader below.
    const big = Buffer.alloc(100 * 1024, 7);
    assert.is((await fetch(`${node.url}/files/many/real.bin`, { method: 'PUT', body: big })).status, 201);

    let done = false;
    let worst = 0;
    let probes = 0;
    const misses: string[] = [];
    const prober = (async () => {
      while (!done) {
        const sent = performance.now();
        assert.is((await fetch(`${node.url}/health`)).status, 200);
        worst = Math.max(worst, performance.now() - sent);
        probes++;
        // The real file is always somewhere: at its old path until its entry moved, then at its new one.
        const old = await fetch(`${node.url}/files/many/real.bin`);
        const moved = old.status === 200 ? old : (await old.body?.cancel(), await fetch(`${node.url}/files/moved/real.bin`));
        if (moved.status !== 200) misses.push(`${moved.status}`);
        else if (Buffer.compare(Buffer.from(await moved.arrayBuffer()), big) !== 0) misses.push('other bytes');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const res = await fetch(`${node.url}/files/many`, { method: 'MOVE', headers: { destination: '/files/moved' } });
    done = true;
    await prober;
    assert.is(res.status, 201, await res.text());
    assert.ok(probes >= 2, 'probes ran during the move');
    assert.equal(misses, [], 'the real file was found at one path or the other throughout');
    console.log(`  (worst /health ${Math.round(worst)} ms over ${probes} probes)`);
    assert.ok(worst < 1000, `/health took ${Math.round(worst)} ms while the folder moved`);
    assert.not.ok(node.store.get('many/f0')?.deleted === false, 'nothing left at the old path');
    assert.is(node.store.get('moved/f49999')?.sha256, SHA_EMPTY);
  } finally {
    await close();
  }
});

test.run();
