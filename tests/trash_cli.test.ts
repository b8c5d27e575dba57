/**
 * The trash through the `nuvem` CLI (bundled once by esbuild, run as a child
 * process) against three node processes: `rm` puts a file in the trash,
 * `trash ls` shows it (path, size, when, the version to restore), `trash
 * restore` brings it back with its bytes, `rm --purge` erases it and every
 * kept version on every node; usage and refusals exit 2 and 1.
 */
import { runScript, type Run } from './_support/run_script.ts';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const cliTrash = suite('nuvem trash');
let cluster: Cluster;
let dir: TempDir;
let cli = '';

cliTrash.before(async () => {
  dir = tempDir('trash-cli');
  cli = join(dir.path, 'nuvem-cli.mjs');
  const bundling = build({
    entryPoints: [join(REPO_ROOT, 'client/cli.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    outfile: cli, logLevel: 'warning',
    banner: { js: "import { createRequire as __nuvemRequire } from 'node:module'; const require = __nuvemRequire(import.meta.url);" },
  });
  [cluster] = await Promise.all([startCluster({ nodes: 3, antiEntropyMs: 1000, label: 'trash-cli' }), bundling]);
});

cliTrash.after(async () => {
  await cluster?.close();
  dir?.cleanup();
});


function nuvem(...args: string[]): Promise<Run> {
  return runScript(cli, args, {
    cwd: dir.path,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NUVEM_NODES: cluster.ks.map((k) => cluster.url(k)).join(',') },
  });
}

function ok(run: Run, what: string): Run {
  assert.is(run.code, 0, `${what} exited ${run.code}: ${run.stderr}${run.stdout}`);
  return run;
}

// ---

cliTrash('rm, trash ls, trash restore, and rm --purge', async () => {
  const local = join(dir.path, 'notes.txt');
  await writeFile(local, 'meeting notes\n');
  ok(await nuvem('put', local, 'work/notes.txt'), 'put');
  ok(await nuvem('put', local, 'work/other.txt'), 'put');
  ok(await nuvem('rm', 'work/notes.txt'), 'rm');

  const listed = ok(await nuvem('trash', 'ls', 'work'), 'trash ls');
  assert.match(listed.stdout, /PATH\s+SIZE\s+DELETED\s+VERSION/);
  assert.match(listed.stdout, /work\/notes\.txt\s+14 B\s+\S/);
  const json = JSON.parse(ok(await nuvem('trash', 'ls', '--json'), 'trash ls --json').stdout);
  assert.equal(json.entries.map((e: { path: string }) => e.path), ['work/notes.txt']);
  assert.is(json.entries[0].sha256, sha256('meeting notes\n'));
  assert.ok(Math.abs(json.entries[0].deleted - Date.now()) < 60_000);

  const restored = ok(await nuvem('trash', 'restore', 'work/notes.txt'), 'trash restore');
  assert.match(restored.stdout, /restored work\/notes\.txt/);
  for (const k of cluster.ks) {
    const got = await cluster.get(k, 'work/notes.txt');
    assert.is(got.status, 200, `${cluster.id(k)} after the restore`);
    assert.is(got.body.toString(), 'meeting notes\n');
  }
  assert.match(ok(await nuvem('trash', 'ls'), 'trash ls').stdout, /nothing in the trash/);

  const again = await nuvem('trash', 'restore', 'work/notes.txt');
  assert.is(again.code, 1, 'restoring a file that is there: failure');
  assert.match(again.stderr, /exists now/);
  assert.is((await nuvem('trash', 'empty')).code, 2, 'an unknown action is a usage error');
  assert.is((await nuvem('trash', 'restore')).code, 2, 'restore without PATH is a usage error');

  ok(await nuvem('put', local, 'work/notes.txt'), 'put again (a kept version now)');
  const erased = ok(await nuvem('rm', '--purge', 'work/notes.txt'), 'rm --purge');
  assert.match(erased.stdout, /erased work\/notes\.txt/);
  for (const k of cluster.ks) {
    assert.is((await cluster.get(k, 'work/notes.txt')).status, 404);
    assert.equal((await cluster.request(k, '/trash/')).json.entries, []);
  }
  assert.match(ok(await nuvem('trash', 'ls'), 'trash ls').stdout, /nothing in the trash/);
  assert.is((await nuvem('rm', '--purge', 'work/never')).code, 1, 'erasing nothing: failure');
});

cliTrash.run();
