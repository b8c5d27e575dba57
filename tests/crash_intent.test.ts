/**
 * A crash between a large file's rename into place and its index commit
 * (issue 16 item 10), with real child processes killed at that very point
 * (`NUVEM_CRASH_AT`, nodes/intents.ts): at restart the node adopts the
 * version it was writing, from the durable intent row, and never mints a
 * fresh version that would outrank newer acknowledged writes.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256 } from './_support/bytes.ts';
import { rawRequest } from './_support/http.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { freePort } from './_support/ports.ts';
import { sleep, until } from './_support/sleep.ts';
import { tempDir, type TempDir } from './_support/temp.ts';
import { parseVersion } from '../protocol/version.ts';

const KiB = 1024;
const body = (n: number) => Buffer.alloc(256 * KiB, n);

function exited(node: NodeProcess): Promise<void> {
  return until(`node ${node.pid} gone`, () => node.child.exitCode !== null || node.child.signalCode !== null).then(() => {});
}

const origin = suite('kill -9 between rename and commit');
const dirs: TempDir[] = [];
const nodes: NodeProcess[] = [];

origin.after(async () => {
  for (const n of nodes) await n.kill();
  for (const d of dirs) d.cleanup();
});

origin('origin PUT of a large file: the intended version is adopted at restart, not a fresh one', async () => {
  const dir = tempDir('intent-origin');
  dirs.push(dir);
  let node = await startNodeProcess({ dataDir: dir.path });
  nodes.push(node);
  const v1 = (await rawRequest(node.url, { method: 'PUT', target: '/files/big.bin', body: body(1), fresh: true })).json;
  await node.kill();

  node = await startNodeProcess({ dataDir: dir.path, env: { NUVEM_CRASH_AT: 'put-after-rename' } });
  nodes.push(node);
  const before = Date.now();
  const answer = await rawRequest(node.url, { method: 'PUT', target: '/files/big.bin', body: body(2), fresh: true }).catch((err) => err);
  assert.instance(answer, Error, 'the node died before answering');
  await exited(node);
  const crashed = Date.now();
  await sleep(20);

  node = await startNodeProcess({ dataDir: dir.path });
  nodes.push(node);
  const got = await rawRequest(node.url, { target: '/files/big.bin' });
  assert.is(sha256(got.body), sha256(body(2)), 'the renamed file is the current version');
  const version = String(got.headers.etag).slice(1, -1);
  const wall = parseVersion(version)!.wall;
  assert.ok(wall >= before - 1000 && wall <= crashed, `the version written before the crash (${version}), not one minted at restart`);
  const revisions = (await rawRequest(node.url, { target: '/revisions/big.bin' })).json.revisions;
  assert.equal(revisions.map((r: any) => r.version), [v1.version], 'the replaced version is kept');
  const changes = (await rawRequest(node.url, { target: '/changes' })).json.changes;
  assert.equal(changes.map((c: any) => c.version), [v1.version, version], 'one change per write, nothing minted at start');
});

origin('replica apply of a large file: the adopted version never outranks a newer write acknowledged meanwhile', async () => {
  const port = await freePort();
  const broker = `mqtt://127.0.0.1:${port}`;
  const d1 = tempDir('intent-n1');
  const d2 = tempDir('intent-n2');
  dirs.push(d1, d2);
  const common = ['--broker', broker, '--heartbeat-ms', '200', '--anti-entropy-ms', '1000'];
  const n1 = await startNodeProcess({ dataDir: d1.path, args: ['--id', 'n1', '--embedded-broker', ...common] });
  nodes.push(n1);
  let n2 = await startNodeProcess({ dataDir: d2.path, args: ['--id', 'n2', ...common], env: { NUVEM_CRASH_AT: 'apply-after-rename' } });
  nodes.push(n2);
  await until('n1 sees n2 online', async () => {
    const cluster = (await rawRequest(n1.url, { target: '/status', fresh: true })).json.cluster;
    return JSON.stringify(cluster ?? '').includes('n2');
  }, 20_000);

  const v2 = await rawRequest(n1.url, { method: 'PUT', target: '/files/big.bin?w=1', body: body(2), fresh: true });
  assert.is(v2.status, 201);
  await exited(n2); // it applied v2 up to the rename, and died there
  const v3 = await rawRequest(n1.url, { method: 'PUT', target: '/files/big.bin?w=1', body: body(3), fresh: true });
  assert.is(v3.status, 200, 'a newer write, acknowledged while n2 is down');

  n2 = await startNodeProcess({ dataDir: d2.path, args: ['--id', 'n2', ...common] });
  nodes.push(n2);
  for (const n of [n2, n1]) {
    await until(`${n.url} serves the newest acknowledged write`, async () => {
      const got = await rawRequest(n.url, { target: '/files/big.bin', fresh: true });
      return got.status === 200 && sha256(got.body) === sha256(body(3)) && got.headers.etag === `"${v3.json.version}"`;
    }, 20_000);
  }
  await sleep(1500); // an anti-entropy pass and more: nothing of n2's outranks v3 later either
  for (const n of [n1, n2]) {
    const got = await rawRequest(n.url, { target: '/files/big.bin', fresh: true });
    assert.is(got.headers.etag, `"${v3.json.version}"`, `${n.url} still serves v3`);
  }
  const kept = (await rawRequest(n2.url, { target: '/revisions/big.bin' })).json.revisions.map((r: any) => r.version);
  assert.ok(kept.includes(v2.json.version), 'n2 kept v2, the version it was applying, as a revision');
});

origin.run();
