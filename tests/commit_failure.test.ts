/**
 * A change the index refuses fails alone (nodes/group_commit.ts,
 * commit_pipeline.ts): the other changes of its transaction commit, this
 * node's seqs stay contiguous (the failed change's seq is given again), and
 * no later change is lost to a seq given twice. A real index (libsql) and a
 * real mutation SQLite refuses (a record without a path).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommitPipeline, type Pending } from '../nodes/commit_pipeline.ts';
import { IndexDb } from '../nodes/index_db.ts';
import { Layout } from '../nodes/layout.ts';
import type { FileRecord } from '../protocol/record.ts';
import { tempDir } from './_support/temp.ts';

const NODE = 'n1';
let wall = 0;

function change(path: string): Pending {
  const record: FileRecord = {
    path, type: 'file', version: `${(++wall).toString(16).padStart(12, '0')}-0000-${NODE}`, size: 0, sha256: 'e3b0', modified: 1,
    contentType: 'text/plain', deleted: false, origin: NODE, seq: 0,
  };
  return { changes: [{ ...record, op: 'put' }], put: [{ record }], revisions: [] };
}

test('a change SQLite refuses fails alone; the others of its transaction commit with contiguous seqs, and later ones too', async () => {
  const dir = tempDir('commit-failure');
  mkdirSync(join(dir.path, '.nuvem'), { recursive: true });
  const index = new IndexDb(join(dir.path, '.nuvem', 'index.db'), { keepRevisions: 10 });
  try {
    const pipeline = new CommitPipeline({ nodeId: NODE, index, layout: new Layout({ dataDir: dir.path, index }) });
    const bad = change('bad');
    (bad.put[0].record as { path: unknown }).path = null; // NOT NULL: the upsert fails inside the transaction
    const results = await Promise.allSettled([change('a'), bad, change('b')].map((p) => pipeline.commit(p)));
    assert.equal(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    await pipeline.commit(change('c'));
    const log = index.logFor(NODE, 0, 10).map((c) => [c.seq, c.path]);
    assert.equal(log, [[1, 'a'], [2, 'b'], [3, 'c']], 'no seq given twice, none skipped');
    assert.equal(['a', 'b', 'c'].map((p) => index.get(p)?.seq), [1, 2, 3]);
    assert.is(pipeline.seq, 3);
  } finally {
    index.close();
    dir.cleanup();
  }
});

test.run();
