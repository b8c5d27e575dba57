/**
 * A node serves a peer's anti-entropy pass (the digest, then the records of
 * every bucket that differs) from one scan of its index, not one scan per
 * bucket (digest.ts DigestCache): bucket requests that name the digest's
 * scan are answered from it; a request naming none reads the index afresh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUCKETS, bucketOf } from '../protocol/digest_buckets.ts';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';

const body = (text: string) => (async function* () { yield Buffer.from(text); })();

test('a pass of a digest and every bucket naming its scan reads the index once; requests naming none see new writes', async () => {
  const dir = tempDir('digest-cache');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  try {
    for (let i = 0; i < 300; i++) await store.put(`d/f${i}`, body(`bytes ${i}`));
    await store.remove('d/f7');
    const page = store.index.page.bind(store.index);
    let pages = 0;
    store.index.page = (after: string, limit: number) => {
      pages++;
      return page(after, limit);
    };
    const { buckets: digest, scan } = await store.servedDigest();
    const other = await store.servedDigest(); // a second peer's pass, overlapping the first
    const scanned = pages;
    assert.ok(scanned >= 1);
    const all = [];
    for (let b = 0; b < BUCKETS; b++) all.push(...(await store.bucketRecords(b, scan)).map((r) => ({ b, r })));
    for (let b = 0; b < BUCKETS; b++) await store.bucketRecords(b, other.scan);
    assert.is(pages, scanned, 'the bucket requests of both passes read no page of the index');
    assert.is(all.length, 300, 'every record once, the tombstone included');
    for (const { b, r } of all) assert.is(bucketOf(r.path), b);
    assert.ok(all.find(({ r }) => r.path === 'd/f7')?.r.deleted);
    assert.is(Object.keys(digest).length > 0, true);

    await store.put('d/new', body('new'));
    assert.ok(!(await store.bucketRecords(bucketOf('d/new'), scan)).some((r) => r.path === 'd/new'), 'the scan named: as it was at the digest');
    const read = pages;
    assert.ok((await store.bucketRecords(bucketOf('d/new'))).some((r) => r.path === 'd/new'), 'no scan named: read afresh');
    assert.ok(pages > read);
    const again = await store.digest();
    assert.ok(pages > scanned, 'a new digest scans again');
    assert.is.not(again[String(bucketOf('d/new'))], digest[String(bucketOf('d/new'))]);
    assert.ok((await store.bucketRecords(bucketOf('d/new'))).some((r) => r.path === 'd/new'));
  } finally {
    store.close();
    dir.cleanup();
  }
});

test('an idle index answers digests without reading it again; any commit, even one during a scan, makes the next digest read it', async () => {
  const dir = tempDir('digest-idle');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  try {
    for (let i = 0; i < 2500; i++) await store.put(`d/f${i}`, body(`bytes ${i}`));
    const page = store.index.page.bind(store.index);
    let pages = 0;
    let during: (() => void) | undefined;
    store.index.page = (after: string, limit: number) => {
      pages++;
      const hook = during;
      during = undefined;
      hook?.();
      return page(after, limit);
    };
    const first = await store.digest();
    const read = pages;
    assert.ok(read >= 3, 'the first digest reads every page');
    const served = await store.servedDigest();
    assert.equal(served.buckets, first);
    assert.equal(await store.digest(), first);
    assert.is(pages, read, 'nothing committed since: no page read');

    await store.put('d/new', body('new'));
    const second = await store.digest();
    assert.ok(pages > read, 'a commit: read again');
    assert.is.not(second[String(bucketOf('d/new'))], first[String(bucketOf('d/new'))]);

    // A commit lands while a digest is reading its pages: that digest may or may not hold it, so it is not kept.
    await store.put('d/during', body('during'));
    during = () => store.index.commit([{ meta: { probe: '1' } }]);
    await store.digest();
    const afterRace = pages;
    const settled = await store.digest();
    assert.ok(pages > afterRace, 'the digest a commit overlapped is not kept');
    const held = pages;
    assert.equal(await store.digest(), settled);
    assert.is(pages, held);
    assert.ok((await store.bucketRecords(bucketOf('d/during'))).some((r) => r.path === 'd/during'));
    assert.is(settled[String(bucketOf('d/during'))], await bucketDigest(store, bucketOf('d/during')));
  } finally {
    store.close();
    dir.cleanup();
  }
});

/** The digest of one bucket recomputed from its records (what the kept digest must equal). */
async function bucketDigest(store: Store, bucket: number): Promise<string | undefined> {
  const { createHash } = await import('node:crypto');
  const live = (await store.bucketRecords(bucket)).filter((r) => !r.deleted).sort((a, b) => (a.path < b.path ? -1 : 1));
  if (live.length === 0) return undefined;
  const h = createHash('sha256');
  for (const r of live) h.update(`${r.path}\u0000${r.version}\n`);
  return h.digest('hex');
}

test.run();
