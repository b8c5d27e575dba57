/**
 * fsyncgate: once the index's write-ahead log fails to flush, the kernel may
 * have dropped the pages it could not write, so the node must not go on as
 * if they were durable. It logs an error and exits non-zero; the write gets
 * no 2xx and no reader of the change feed learns of it. A real child process
 * (tests/_support/wal_failing_node.ts sets the WAL fsync seam).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startNodeProcess } from './_support/node_process.ts';
import { until } from './_support/sleep.ts';
import { tempDir } from './_support/temp.ts';

test('a failed WAL fsync stops the node with an error, before the write is acknowledged or told', async () => {
  const dir = tempDir('fsync-fatal');
  const node = await startNodeProcess({ dataDir: dir.path, entry: 'tests/_support/wal_failing_node.ts' });
  try {
    assert.is((await fetch(`${node.url}/files/a`, { method: 'PUT', body: 'kept' })).status, 201);
    const { cursor } = await (await fetch(`${node.url}/changes`)).json();
    // A reader waiting for the next change must not hear of the unsynced one.
    const feed = fetch(`${node.url}/changes?since=${cursor}&wait=20`).then((r) => r.json()).catch((err: Error) => ({ gone: err.message }));
    writeFileSync(join(dir.path, 'fail-wal'), '');
    const answer = await fetch(`${node.url}/files/b`, { method: 'PUT', body: 'unsynced' }).then((r) => r.status, () => 'connection lost');
    assert.not.equal(typeof answer === 'number' && answer < 300, true, `the write was acknowledged (${answer})`);
    await until('the node exits', () => node.child.exitCode !== null || node.child.signalCode !== null, 10_000);
    assert.is(node.child.exitCode, 1, 'exits non-zero');
    const seen = await feed;
    assert.ok(!JSON.stringify(seen).includes('"path":"b"'), `the change feed told of the unsynced write: ${JSON.stringify(seen)}`);
    assert.ok(node.output.some((l) => l.includes('"level":"error"') && l.includes('write-ahead log could not be flushed')), node.output.join('\n'));
  } finally {
    await node.kill();
    dir.cleanup();
  }
});

test.run();
