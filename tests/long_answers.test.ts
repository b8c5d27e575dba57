/**
 * A long recursive DELETE or folder MOVE always gets its answer (issue 16,
 * item 13): the node's idle timeout (`idleTimeoutMs`, 75 s; 1 s here, so a
 * few thousand entries are enough to outlast it) cuts off a connection that
 * sends nothing, but not one waiting for its answer while the node works.
 * Before, the node destroyed the socket mid-operation: the operation went
 * on, the client got a reset instead of its 204 or 201. The client library
 * (and so `nuvem rm -r`, `nuvem mv`) waited 10 s (`timeoutMs`) for any
 * answer, then gave up (and retried a DELETE elsewhere); it now waits while
 * the node answers `/health`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileRecord } from '../protocol/record.ts';
import { createClient } from '../client/mod.ts';
import { realNode } from './_support/real_node.ts';

const N = 6000;
const SHA_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** `N` records straight into the index under each folder, over empty folders on disk. */
function fill(node: Awaited<ReturnType<typeof realNode>>['node'], folders: string[]): void {
  for (const folder of folders) {
    mkdirSync(join(node.store.filesDir, folder), { recursive: true });
    const put: { record: FileRecord }[] = [];
    for (let j = 0; j < N; j++) {
      put.push({ record: {
        path: `${folder}/f${j}`, type: 'file', version: `000000000001-0000-x${j}`, size: 0, sha256: SHA_EMPTY,
        modified: 1, contentType: 'text/plain', deleted: false, origin: 'x', seq: j + 1,
      } });
    }
    node.store.index.commit([{ put }]);
  }
}

test('a recursive DELETE and a folder MOVE that outlast the idle timeout are answered', async () => {
  const { node, close } = await realNode(undefined, { idleTimeoutMs: 1000 });
  try {
    fill(node, ['del', 'mov']);
    const started = performance.now();
    const deleted = await fetch(`${node.url}/files/del?recursive=true`, { method: 'DELETE' });
    const deleteMs = performance.now() - started;
    assert.is(deleted.status, 204);
    const moved = await fetch(`${node.url}/files/mov`, { method: 'MOVE', headers: { destination: '/files/moved' } });
    const moveMs = performance.now() - started - deleteMs;
    assert.is(moved.status, 201);
    await moved.arrayBuffer();
    console.log(`  (DELETE of ${N} entries answered after ${Math.round(deleteMs)} ms, MOVE after ${Math.round(moveMs)} ms; idle timeout 1000 ms)`);
    assert.is(node.store.get('del/f0')?.deleted, true);
    assert.is(node.store.get(`moved/f${N - 1}`)?.deleted, false);
  } finally {
    await close();
  }
});

test('the client library waits for a recursive DELETE and a folder MOVE past its answer deadline while the node is alive', async () => {
  const { node, close } = await realNode();
  const client = createClient({ nodes: [node.url], timeoutMs: 1000 });
  try {
    fill(node, ['del', 'mov']);
    await client.remove('del', { recursive: true });
    const moved = await client.move('mov', 'moved');
    assert.is((moved?.entries as unknown[] | undefined)?.length, N);
    assert.is(node.store.get('del/f0')?.deleted, true);
    assert.is(node.store.get(`moved/f${N - 1}`)?.deleted, false);
  } finally {
    await client.close();
    await close();
  }
});

test.run();
