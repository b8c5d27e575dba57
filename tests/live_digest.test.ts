/**
 * The anti-entropy digest kept by commits (live_digest.ts), pure: commits
 * that land while it is still being built, on paths already read and paths
 * not yet read, leave it equal to a digest built at once afterwards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { entryPages } from '../nodes/digest.ts';
import { type EntryChange, LiveDigest } from '../nodes/live_digest.ts';

type Rec = { path: string; version: string; deleted: boolean };

/** An index in memory, paths in byte order (as SQLite orders them), read a page at a time. */
function memoryIndex(records: Rec[]) {
  const rows = new Map(records.map((r) => [r.path, r]));
  const sorted = () => [...rows.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  let onPage: (() => void) | undefined;
  return {
    rows,
    set onPage(fn: (() => void) | undefined) {
      onPage = fn;
    },
    page(after: string, limit: number): Rec[] {
      const out = sorted().filter((r) => Buffer.compare(Buffer.from(r.path), Buffer.from(after)) > 0).slice(0, limit);
      const hook = onPage;
      onPage = undefined;
      if (hook) setImmediate(hook); // lands between this page and the next, as a commit does
      return out;
    },
    /** A commit: the row changes, and what it did to live records is returned. */
    commit(path: string, version: string | undefined): EntryChange {
      const before = rows.get(path);
      if (version === undefined) rows.set(path, { path, version: `${before?.version}-deleted`, deleted: true });
      else rows.set(path, { path, version, deleted: false });
      return { path, before: before && !before.deleted ? before.version : undefined, after: version };
    },
  };
}

// The first page (1,000) ends at 'z/\uffff', which sorts before 'z/😀' in bytes (as SQLite reads) and after it in
// UTF-16 (as JavaScript compares): a commit to 'z/😀' during the build is one not read yet.
const paths = [...Array.from({ length: 999 }, (_, i) => `d/${String(i).padStart(5, '0')}`), 'z/\uffff', 'z/😀',
  ...Array.from({ length: 1600 }, (_, i) => `zz/${String(i).padStart(5, '0')}`)];

test('commits during the build, before and after what was read, and after it: equal to a digest built afresh', async () => {
  const index = memoryIndex(paths.map((path) => ({ path, version: 'v1', deleted: false })));
  const live = new LiveDigest(() => entryPages(index));
  const commit = (path: string, version: string | undefined) => live.committed([index.commit(path, version)]);
  index.onPage = () => {
    commit('d/00005', 'v2'); // read already
    commit('d/00006', undefined); // read already, deleted
    commit('zz/01500', 'v2'); // not read yet
    commit('d/00007', 'v2');
    commit('d/00007', 'v3'); // twice
    commit('d/new', 'v1'); // a new path, not read yet
    commit('z/😀', 'v2'); // not read yet, though before the last path read in UTF-16
  };
  const built = await live.digest();
  const afresh = () => new LiveDigest(() => entryPages(index)).digest();
  assert.equal(built, await afresh());
  commit('d/00001', undefined);
  commit('d/00002', 'v9');
  commit('z/\uffff', 'v2');
  live.committed([{ path: 'd/00003', before: 'v1', after: 'v1' }]); // metadata only: no change
  assert.equal(await live.digest(), await afresh());
  const untouched = new LiveDigest(() => entryPages(memoryIndex(paths.map((path) => ({ path, version: 'v1', deleted: false })))));
  assert.is.not(JSON.stringify(await live.digest()), JSON.stringify(await untouched.digest()));
});

test('no live record: no bucket', async () => {
  const index = memoryIndex([{ path: 'a', version: 'v1', deleted: true }]);
  const live = new LiveDigest(() => entryPages(index));
  assert.equal(await live.digest(), {});
  live.committed([index.commit('b', 'v1')]);
  assert.is(Object.keys(await live.digest()).length, 1);
  live.committed([index.commit('b', undefined)]);
  assert.equal(await live.digest(), {});
});

test('a commit that cannot be applied does not throw into the commit: the digest is built again when next asked', async () => {
  const index = memoryIndex(paths.slice(0, 10).map((path) => ({ path, version: 'v1', deleted: false })));
  let reads = 0;
  const live = new LiveDigest(() => entryPages({ page: (after: string, limit: number) => (reads++, index.page(after, limit)) }));
  const before = await live.digest();
  const broken = { path: undefined, after: 'v2' } as unknown as EntryChange;
  live.committed([broken]); // must not throw
  live.committed([index.commit('d/00001', 'v2')]);
  const read = reads;
  const after = await live.digest();
  assert.ok(reads > read, 'built again');
  assert.is.not(JSON.stringify(after), JSON.stringify(before));
  assert.equal(after, await new LiveDigest(() => entryPages(index)).digest());
});

test.run();
