// The small-file read cache (nodes/small_cache.ts): serves only the version it
// holds, evicts least recently used first by bytes, and never keeps a bigger
// buffer alive through a view into it (network reads hand out such views).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SmallFileCache } from '../nodes/small_cache.ts';

test('a view into a bigger buffer is cached as an exact copy', () => {
  const cache = new SmallFileCache({ maxFileBytes: 65536, maxBytes: 1 << 20 });
  const big = new Uint8Array(65536).map((_, i) => i % 251);
  const view = big.subarray(100, 4196);
  cache.set('a', 'v1', view);
  const got = cache.get('a', 'v1')!;
  assert.equal([...got], [...view]);
  assert.is(got.buffer.byteLength, 4096, 'the 64 KiB buffer is not retained');
  big.fill(0);
  assert.is(got[0], 100 % 251, 'the copy does not change with the original');
});

test('a stale version is never served, and is dropped', () => {
  const cache = new SmallFileCache({ maxFileBytes: 100, maxBytes: 1000 });
  cache.set('a', 'v1', new Uint8Array([1]));
  assert.is(cache.get('a', 'v2'), undefined);
  assert.is(cache.get('a', 'v1'), undefined, 'dropped once seen stale');
});

test('least recently used files go first when the byte budget is exceeded; too-big files are not kept', () => {
  const cache = new SmallFileCache({ maxFileBytes: 100, maxBytes: 250 });
  cache.set('a', 'v', new Uint8Array(100));
  cache.set('b', 'v', new Uint8Array(100));
  cache.get('a', 'v');
  cache.set('c', 'v', new Uint8Array(100));
  assert.ok(cache.get('a', 'v'), 'recently read: kept');
  assert.is(cache.get('b', 'v'), undefined, 'least recently used: evicted');
  assert.ok(cache.get('c', 'v'));
  cache.set('d', 'v', new Uint8Array(101));
  assert.is(cache.get('d', 'v'), undefined);
});

test.run();
