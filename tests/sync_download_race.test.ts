/**
 * A download records as its base the stat of the bytes it wrote, taken
 * before they are renamed into place (sync_exec.ts): an edit of the same
 * size made right after the rename reads as an edit on the next pass and
 * goes up. Recorded after the rename, the stat could be the edit's, and the
 * edit then read as unchanged forever (seen once in CI: "timed out waiting
 * for A to get the edit", sync_cluster.test.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '../client/mod.ts';
import { RemoteView } from '../client/remote_view.ts';
import { type ExecContext, runActions } from '../client/sync_exec.ts';
import { needsHash } from '../client/sync_plan.ts';
import type { BaseEntry, LocalEntry } from '../client/sync_types.ts';
import { startCluster } from './_support/cluster.ts';
import { tempDir } from './_support/temp.ts';

test('a same-size edit right after a download is renamed into place is not taken for the download', async () => {
  const cluster = await startCluster({ nodes: 1, label: 'download-race' });
  const dir = tempDir('download-race');
  const client = createClient({ nodes: [cluster.url(1)] });
  try {
    const put = await cluster.put(1, 'r/hello.txt', 'hello from A');
    assert.is(put.status, 201);
    const root = join(dir.path, 'mirror');
    mkdirSync(root);
    const local = new Map<string, LocalEntry>();
    const base = new Map<string, BaseEntry>();
    const ctx: ExecContext = {
      root, remoteRoot: 'r', client, tmpDir: join(root, '.nuvem-sync', 'tmp'), local, view: new RemoteView(), base,
      setBase: (path, entry) => (entry ? base.set(path, entry) : base.delete(path)),
      record: () => {},
      signal: new AbortController().signal,
      // The person's edit lands between the rename and whatever the mirror does next.
      placed: async (path) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        writeFileSync(join(root, path), 'changed on B');
      },
    };
    const result = await runActions(ctx, [{ type: 'download', path: 'hello.txt', version: put.json.version, size: 12, sha256: put.json.sha256 }]);
    assert.equal(result.failed, []);
    assert.is(result.done, 1);
    assert.is(readFileSync(join(root, 'hello.txt'), 'utf8'), 'changed on B');
    assert.is(base.get('hello.txt')?.sha256, put.json.sha256, 'the base is what was downloaded');
    // The next pass scans the file: its stat is not the base's, so it is hashed, and the edit goes up.
    const now = statSync(join(root, 'hello.txt'));
    const scanned = new Map<string, LocalEntry>([['hello.txt', { kind: 'file', size: now.size, mtimeMs: now.mtimeMs }]]);
    assert.equal(needsHash(scanned, base), ['hello.txt'], 'the edit reads as a change');
  } finally {
    await client.close();
    await cluster.close();
    dir.cleanup();
  }
});

test.run();
