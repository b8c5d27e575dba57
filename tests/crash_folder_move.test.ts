/**
 * A folder MOVE interrupted by `kill -9` (issue 16, item 13; nodes/folder_move.ts),
 * with real child processes killed at a seam (`NUVEM_CRASH_AT`): between two
 * of the move's index batches, the restarted node completes the move; after
 * its intent but before the rename, it drops it. Either way the folder is
 * wholly at one path: in the index (listing), in the files folder on disk,
 * in what GET serves, and, once replicated, on the peer.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MOVE_BATCH } from '../nodes/folder_move.ts';
import { sha256 } from './_support/bytes.ts';
import { rawRequest } from './_support/http.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { freePort } from './_support/ports.ts';
import { until } from './_support/sleep.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

/** More than one batch of the move (MOVE_BATCH): the crash falls between two. */
const SMALL = 620;
const big = Buffer.alloc(200 * 1024, 9); // beyond the small-file size: read from the files folder

const bodyOf = (i: number) => `file ${i} of the folder that moves\n`;

async function listAll(url: string): Promise<{ path: string; sha256: string; type: string }[]> {
  const out: any[] = [];
  for (let cursor = ''; ;) {
    const res = await rawRequest(url, { target: `/files/?recursive=true&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
    assert.is(res.status, 200, res.body.toString());
    out.push(...res.json.entries);
    if (!res.json.next_cursor) return out.filter((e) => e.type === 'file');
    cursor = res.json.next_cursor;
  }
}

/** The files `url` lists, as path → sha256. */
async function filesOf(url: string): Promise<Map<string, string>> {
  return new Map((await listAll(url)).map((e) => [e.path, e.sha256]));
}

function expected(folder: string): Map<string, string> {
  const m = new Map<string, string>([[`${folder}/big.bin`, sha256(big)]]);
  for (let i = 0; i < SMALL; i++) m.set(`${folder}/f${i}.txt`, sha256(bodyOf(i)));
  return m;
}

function exited(node: NodeProcess): Promise<void> {
  return until(`node ${node.pid} gone`, () => node.child.exitCode !== null || node.child.signalCode !== null).then(() => {});
}

/** Every file of `want` is on `node`'s disk under its path, with those bytes, and nothing of `gone` is. */
function checkDisk(dataDir: string, options: { want: Map<string, string>; gone: string }): void {
  for (const [path, sha] of options.want) {
    const file = join(dataDir, 'files', path);
    assert.ok(existsSync(file), `${path} is in the files folder`);
    assert.is(sha256(readFileSync(file)), sha, `${path} holds its bytes`);
  }
  assert.not.ok(existsSync(join(dataDir, 'files', options.gone)), `nothing is left at ${options.gone}/ in the files folder`);
}

const crash = suite('kill -9 in the middle of a folder move');
const dirs: TempDir[] = [];
const nodes: NodeProcess[] = [];

crash.after(async () => {
  for (const n of nodes) await n.kill();
  for (const d of dirs) d.cleanup();
});

/** n2 (with the broker) and n1 (killed at `crashAt` when it moves); `dir/` written on n1 and replicated to n2. */
async function twoNodes(crashAt: string): Promise<{ n1: NodeProcess; n2: NodeProcess; d1: TempDir; args: string[] }> {
  const port = await freePort();
  const d1 = tempDir('move-crash-n1');
  const d2 = tempDir('move-crash-n2');
  dirs.push(d1, d2);
  const common = ['--broker', `mqtt://127.0.0.1:${port}`, '--heartbeat-ms', '200', '--anti-entropy-ms', '3600000'];
  const n2 = await startNodeProcess({ dataDir: d2.path, args: ['--id', 'n2', '--embedded-broker', ...common] });
  nodes.push(n2);
  const n1 = await startNodeProcess({ dataDir: d1.path, args: ['--id', 'n1', ...common], env: { NUVEM_CRASH_AT: crashAt } });
  nodes.push(n1);
  for (const [a, b] of [[n1, 'n2'], [n2, 'n1']] as const) {
    await until(`${a.url} sees ${b} online`, async () => {
      const cluster = (await rawRequest(a.url, { target: '/status', fresh: true })).json.cluster ?? [];
      return cluster.some((m: any) => m.id === b && m.state === 'online');
    }, 20_000);
  }
  assert.is((await rawRequest(n1.url, { method: 'PUT', target: '/files/dir/big.bin', body: big })).status, 201);
  for (let i = 0; i < SMALL; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, SMALL - i) }, async (_, j) => {
      const res = await rawRequest(n1.url, { method: 'PUT', target: `/files/dir/f${i + j}.txt?w=1`, body: bodyOf(i + j) });
      assert.is(res.status, 201, res.body.toString());
    }));
  }
  await until('n2 holds dir/', async () => (await filesOf(n2.url)).size === SMALL + 1, 30_000);
  return { n1, n2, d1, args: ['--id', 'n1', ...common] };
}

for (const [point, what] of [['move-between-batches', 'between two batches of the index'], ['move-after-rename', 'after the rename, before any batch']] as const) {
  crash(`killed ${what}: at restart the move is completed, and the peer gets all of it`, async () => {
    const { n1: crashing, n2, d1, args } = await twoNodes(point);
    const answer = await rawRequest(crashing.url, { method: 'MOVE', target: '/files/dir', headers: { destination: '/files/moved' }, fresh: true }).catch((err) => err);
    assert.instance(answer, Error, 'the node died before answering');
    await exited(crashing);

    const n1 = await startNodeProcess({ dataDir: d1.path, args });
    nodes.push(n1);
    const done = n1.output.map((l) => JSON.parse(l.startsWith('{') ? l : '{}')).find((l) => l.msg === 'a folder move a crash interrupted was completed');
    const left = point === 'move-after-rename' ? SMALL + 1 : SMALL + 1 - MOVE_BATCH;
    assert.is(done?.moved, left, `the entries not yet moved at the crash were moved at restart: ${JSON.stringify(done)}`);
    assert.equal([...(await filesOf(n1.url))].sort(), [...expected('moved')].sort(), 'the index holds the folder at its new path only');
    checkDisk(d1.path, { want: expected('moved'), gone: 'dir' });
    const got = await rawRequest(n1.url, { target: '/files/moved/big.bin' });
    assert.is(sha256(got.body), sha256(big));
    assert.is((await rawRequest(n1.url, { target: '/files/dir/big.bin' })).status, 404);

    await until('n2 holds the folder at its new path only', async () => {
      const theirs = await filesOf(n2.url);
      return [...theirs].sort().join() === [...expected('moved')].sort().join();
    }, 60_000);
    checkDisk(n2.dataDir, { want: expected('moved'), gone: 'dir' });
  });
}

crash('killed after the intent, before the rename: at restart the move is dropped, the folder stays where it was', async () => {
  const { n1: crashing, n2, d1, args } = await twoNodes('move-after-intent');
  const answer = await rawRequest(crashing.url, { method: 'MOVE', target: '/files/dir', headers: { destination: '/files/moved' }, fresh: true }).catch((err) => err);
  assert.instance(answer, Error, 'the node died before answering');
  await exited(crashing);

  const n1 = await startNodeProcess({ dataDir: d1.path, args });
  nodes.push(n1);
  assert.ok(n1.output.some((l) => l.includes('a folder move a crash interrupted before its rename was dropped')));
  assert.equal([...(await filesOf(n1.url))].sort(), [...expected('dir')].sort());
  checkDisk(d1.path, { want: expected('dir'), gone: 'moved' });
  assert.equal([...(await filesOf(n2.url))].sort(), [...expected('dir')].sort(), 'the peer still has it where it was');
  // The folder moves fine afterwards.
  const moved = await rawRequest(n1.url, { method: 'MOVE', target: '/files/dir?w=1', headers: { destination: '/files/moved' } });
  assert.is(moved.status, 201, moved.body.toString());
  await until('n2 has the later move', async () => [...(await filesOf(n2.url))].sort().join() === [...expected('moved')].sort().join(), 60_000);
});

crash.run();
