/**
 * Orphaned revision content (nodes/reclaim.ts): content files in
 * `DATA/.nuvem/revs/` that no kept revision points at are collected, those
 * a revision points at stay, and a fresh one (younger than the grace time,
 * maybe between its link and its commit) is left for the next sweep.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectOrphans } from '../nodes/reclaim.ts';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';

const orphans = suite('reclaim: orphaned revision content');

const body = (text: string) => (async function* () { yield Buffer.from(text); })();
/** Over 64 KiB: kept as a file in revs/ (a small file's revision keeps its bytes in the index: small_files.ts). */
const large = (text: string) => body(text.repeat(70_000));

orphans('content no revision points at goes; kept revisions\' content stays; fresh files wait for the grace time', async () => {
  const dir = tempDir('reclaim');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a' });
  try {
    const { record: v1 } = await store.put('doc.txt', large('one'));
    await store.put('doc.txt', large('two'));
    const { record: s1 } = await store.put('small.txt', body('small one'));
    await store.put('small.txt', body('small two'));
    const kept = store.revisions('doc.txt');
    assert.equal(kept.map((r) => r.version), [v1.version]);
    const keptFile = join(store.revsDir, v1.sha256.slice(0, 2), `${v1.sha256}-${v1.version}`);
    assert.ok(existsSync(keptFile));
    // Left behind: a link whose commit never came (a crash), and one whose revision was pruned but not unlinked.
    const sha = 'ab'.repeat(32);
    mkdirSync(join(store.revsDir, 'ab'), { recursive: true });
    const orphanA = join(store.revsDir, 'ab', `${sha}-00000000000a-0000-node-a`);
    const orphanB = join(store.revsDir, v1.sha256.slice(0, 2), `${v1.sha256}-00000000000b-0000-node-x`);
    writeFileSync(orphanA, 'crash');
    writeFileSync(orphanB, 'one');
    const args = { revsDir: store.revsDir, index: store.index, locks: store.locks };
    assert.is(await collectOrphans({ ...args, graceMs: 60_000 }), 0, 'too fresh: maybe between a link and its commit');
    assert.is(await collectOrphans({ ...args, graceMs: 60_000, now: () => Date.now() + 120_000 }), 2);
    assert.not.ok(existsSync(orphanA));
    assert.not.ok(existsSync(orphanB));
    assert.ok(existsSync(keptFile), 'a kept revision\'s content stays');
    assert.is(await (await store.read('doc.txt', { version: v1.version })).record.version, v1.version);
    assert.equal(readdirSync(join(store.revsDir, 'ab')), []);
    assert.ok(store.index.hasBlob(s1.sha256), 'a small revision\'s bytes stay in the index');
    const kept1 = await store.read('small.txt', { version: s1.version });
    const got = await kept1.open(0, s1.size - 1);
    await kept1.close();
    assert.is(Buffer.from(got as Uint8Array).toString(), 'small one');
  } finally {
    store.close();
    dir.cleanup();
  }
});

orphans.run();
