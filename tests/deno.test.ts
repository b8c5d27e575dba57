// The node under Deno 2: the same API through Deno.serve. CI (NUVEM_REQUIRE_DENO=1)
// always runs it; elsewhere it is skipped, saying so, when no Deno binary is found.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBroker } from '../broker/mod.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';

function findDeno(): string | undefined {
  const local = join(process.cwd(), 'node_modules', '.bin', 'deno');
  if (existsSync(local)) return local;
  return spawnSync('deno', ['--version']).status === 0 ? 'deno' : undefined;
}

const deno = findDeno();
let child: ChildProcess | undefined;
const dirs: string[] = [];
let dir = '';

test.after(() => {
  child?.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function denoMissing(): boolean {
  if (deno) return false;
  if (process.env.NUVEM_REQUIRE_DENO) assert.unreachable('NUVEM_REQUIRE_DENO is set but no Deno binary was found');
  console.log('\n  (skipped: no Deno binary; `npm run deno:install` puts one in node_modules/.bin/deno)');
  return true;
}

/** Starts a node under Deno; resolves with its URL. */
function startDenoNode(args: string[]): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'nuvem-deno-'));
  dirs.push(dir);
  child = spawn(deno!, ['run', '-A', 'nodes/main_deno.ts', '--port', '0', '--data', dir, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Deno node did not start in 60 s: ${out}`)), 60_000);
    child!.stdout!.on('data', (chunk) => {
      out += chunk;
      const m = /"msg":"listening","url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child!.once('exit', (code) => reject(new Error(`Deno node exited with ${code}: ${out}`)));
  });
}

test('a node under Deno serves put, get and delete', async () => {
  if (denoMissing()) return;
  const url = await startDenoNode(['--broker', 'mqtt://127.0.0.1:1']);
  const body = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  const put = await fetch(`${url}/files/deno/a%20b.bin`, { method: 'PUT', body });
  assert.is(put.status, 201);
  const record = await put.json();
  const sha = createHash('sha256').update(body).digest('hex');
  assert.is(record.sha256, sha);
  const get = await fetch(`${url}/files/deno/a%20b.bin`);
  assert.is(get.status, 200);
  assert.is(get.headers.get('etag'), `"${record.version}"`);
  assert.is(createHash('sha256').update(new Uint8Array(await get.arrayBuffer())).digest('hex'), sha);
  const range = await fetch(`${url}/files/deno/a%20b.bin`, { headers: { range: 'bytes=10-19' } });
  assert.is(range.status, 206);
  assert.equal([...new Uint8Array(await range.arrayBuffer())], [...body.slice(10, 20)]);
  const del = await fetch(`${url}/files/deno/a%20b.bin`, { method: 'DELETE' });
  assert.is(del.status, 204);
  const gone = await fetch(`${url}/files/deno/a%20b.bin`);
  assert.is(gone.status, 404);
  assert.is((await gone.json()).error, 'not_found');
  const bad = await fetch(`${url}/files/a%00b`, { method: 'PUT', body: 'x' });
  assert.is(bad.status, 400);
  assert.is((await bad.json()).error, 'invalid_path');
});

test('a Deno node and a Node node replicate to each other through the broker', async () => {
  if (denoMissing()) return;
  child?.kill('SIGKILL');
  const broker = await startBroker({ port: 0, wsPort: false });
  let nodeA: NodeProcess | undefined;
  const dirA = mkdtempSync(join(tmpdir(), 'nuvem-deno-peer-'));
  try {
    nodeA = await startNodeProcess({ dataDir: dirA, args: ['--id', 'node-a', '--broker', broker.mqttUrl] });
    const urlB = await startDenoNode(['--id', 'node-b', '--broker', broker.mqttUrl]);
    const sees = async (url: string, peer: string) => {
      for (let i = 0; i < 100; i++) {
        const s = await (await fetch(`${url}/status`)).json();
        if (s.cluster.some((m: { id: string; state: string }) => m.id === peer && m.state === 'online')) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.unreachable(`${url} never saw ${peer} online`);
    };
    await sees(nodeA.url, 'node-b');
    await sees(urlB, 'node-a');
    const fromNode = await fetch(`${nodeA.url}/files/from-node.txt`, { method: 'PUT', body: 'written on Node' });
    assert.is(fromNode.status, 201);
    assert.equal((await fromNode.json()).replicas.sort(), ['node-a', 'node-b']);
    assert.is(await (await fetch(`${urlB}/files/from-node.txt`)).text(), 'written on Node');
    const fromDeno = await fetch(`${urlB}/files/from-deno.txt`, { method: 'PUT', body: 'written on Deno' });
    assert.is(fromDeno.status, 201);
    assert.equal((await fromDeno.json()).replicas.sort(), ['node-a', 'node-b']);
    assert.is(await (await fetch(`${nodeA.url}/files/from-deno.txt`)).text(), 'written on Deno');
  } finally {
    await nodeA?.stop();
    child?.kill('SIGKILL');
    await broker.close();
    rmSync(dirA, { recursive: true, force: true });
  }
});

test.run();
