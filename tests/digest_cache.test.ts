/**
 * A node serves a peer's anti-entropy pass (the digest, then the records of
 * every bucket that differs) without a scan of its index per bucket
 * (digest.ts DigestCache): the digest is kept by commits (live_digest.ts)
 * and reads nothing; the pass's first bucket request scans the index once
 * and the others are answered from that scan; a request naming no scan
 * reads the index afresh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUCKETS, bucketOf } from '../protocol/digest_buckets.ts';
import { entryPages } from '../nodes/digest.ts';
import { LiveDigest } from '../nodes/live_digest.ts';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';

const body = (text: string) => (async function* () { yield Buffer.from(text); })();

/** Counts the index's scans (page reads from the start) and pages read. */
function countReads(store: Store) {
  const page = store.index.page.bind(store.index);
  const reads = { scans: 0, pages: 0 };
  store.index.page = (after: string, limit: number) => {
    reads.pages++;
    if (after === '') reads.scans++;
    return page(after, limit);
  };
  return reads;
}

test('a pass of a digest and every bucket naming its scan reads the index once; requests naming none see new writes', async () => {
  const dir = tempDir('digest-cache');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  try {
    for (let i = 0; i < 300; i++) await store.put(`d/f${i}`, body(`bytes ${i}`));
    await store.remove('d/f7');
    await store.digest(); // built once
    const reads = countReads(store);
    const { buckets: digest, scan } = await store.servedDigest();
    const other = await store.servedDigest(); // a second peer's pass, overlapping the first
    assert.is(reads.pages, 0, 'the digests read nothing');
    const all = [];
    for (let b = 0; b < BUCKETS; b++) all.push(...(await store.bucketRecords(b, scan)).map((r) => ({ b, r })));
    assert.is(reads.scans, 1, 'the 64 bucket requests of one pass scan the index once');
    for (let b = 0; b < BUCKETS; b++) await store.bucketRecords(b, other.scan);
    assert.is(reads.scans, 2, 'and the other pass once');
    assert.is(all.length, 300, 'every record once, the tombstone included');
    for (const { b, r } of all) assert.is(bucketOf(r.path), b);
    assert.ok(all.find(({ r }) => r.path === 'd/f7')?.r.deleted);
    assert.is(Object.keys(digest).length > 0, true);

    await store.put('d/new', body('new'));
    assert.ok(!(await store.bucketRecords(bucketOf('d/new'), scan)).some((r) => r.path === 'd/new'), 'the scan named: as it was');
    assert.ok((await store.bucketRecords(bucketOf('d/new'))).some((r) => r.path === 'd/new'), 'no scan named: read afresh');
    assert.is(reads.scans, 3);
    const before = reads.pages;
    const again = await store.digest();
    assert.is(reads.pages, before, 'a digest after a write reads nothing either');
    assert.is.not(again[String(bucketOf('d/new'))], digest[String(bucketOf('d/new'))]);
  } finally {
    store.close();
    dir.cleanup();
  }
});

test('the digest kept by commits (puts, replacements, deletes, tombstones purged, a folder moved) equals one built afresh', async () => {
  const dir = tempDir('digest-live');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  const fresh = () => new LiveDigest(() => entryPages(store.index)).digest();
  try {
    for (let i = 0; i < 2500; i++) await store.put(`d/f${i}`, body(`bytes ${i}`));
    const reads = countReads(store);
    const first = await store.digest();
    assert.is(reads.scans, 1, 'built on the first request');
    assert.equal(first, await fresh());
    await store.put('d/f1', body('replaced'));
    await store.remove('d/f2');
    await store.remove('d/f3');
    const [gone] = await store.remove('d/f4');
    await store.purge([{ path: 'd/f4', version: gone.version }]);
    await store.move('d', 'e');
    await store.put('e/f2', body('back'));
    await store.restore('e/f3').catch(() => undefined);
    await store.erase('e/f5');
    const scans = reads.scans;
    const kept = await store.digest();
    assert.is(reads.scans, scans, 'kept, not read');
    assert.equal(kept, await fresh());
    assert.is.not(kept[String(bucketOf('e/f1'))], first[String(bucketOf('e/f1'))]);
    await store.remove('e', { recursive: true });
    assert.equal(await store.digest(), {}, 'nothing live: every bucket empty');
    assert.equal(await fresh(), {});
  } finally {
    store.close();
    dir.cleanup();
  }
});

test.run();
