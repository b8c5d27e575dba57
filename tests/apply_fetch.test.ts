/**
 * Content fetched for a peer's change (nodes/apply.ts, peers.ts `source`):
 * a copy that fails its SHA-256 sends the node to the next member, a copy
 * longer than the record is cut off, and with no good copy nothing is stored.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../nodes/store.ts';
import type { Change } from '../protocol/record.ts';
import { tempDir } from './_support/temp.ts';

const good = 'the bytes the origin committed';
const sha = createHash('sha256').update(good).digest('hex');
const change: Change = {
  path: 'fetched.txt', type: 'file', version: `${Date.now().toString(16).padStart(12, '0')}-0000-peer`, size: good.length, sha256: sha,
  modified: Date.now(), contentType: 'text/plain', deleted: false, origin: 'peer', seq: 1, op: 'put',
};

async function* once(text: string): AsyncIterable<Uint8Array> {
  yield new TextEncoder().encode(text);
}

/** A content source answering `copies` in turn (one member each), then none. */
function members(copies: string[]): { source: () => Promise<AsyncIterable<Uint8Array>>; asked: () => number } {
  let next = 0;
  return {
    source: async () => {
      if (next >= copies.length) throw new Error('no member has it');
      return once(copies[next++]);
    },
    asked: () => next,
  };
}

async function withStore(fn: (store: Store, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir('apply-fetch');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'me' });
  try {
    await fn(store, dir.path);
  } finally {
    store.close();
    dir.cleanup();
  }
}

test('a copy that fails its hash is fetched again from the next member', async () => {
  await withStore(async (store) => {
    const m = members(['tampered bytes of the same size!'.slice(0, good.length), good]);
    const result = await store.applyRemote(change, { advance: false, fetchContent: m.source });
    assert.is(result.outcome, 'applied');
    assert.is(m.asked(), 2);
    assert.is(store.get('fetched.txt')?.sha256, sha);
  });
});

test('a copy longer than the record is cut off; with no good copy nothing is stored and no temp file is left', async () => {
  await withStore(async (store, dir) => {
    const m = members([good + ' and a lot more'.repeat(1000), 'short']);
    const err = await store.applyRemote(change, { advance: false, fetchContent: m.source }).then(() => undefined, (e) => e);
    assert.ok(err, 'applied without a good copy');
    assert.is(m.asked(), 2);
    assert.is(store.get('fetched.txt'), undefined);
    assert.equal(readdirSync(join(dir, '.nuvem', 'tmp')), []);
  });
});

test.run();
