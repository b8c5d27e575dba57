/**
 * The `nuvem` CLI against real clusters with a node down: one of three, and
 * one of two. Every client command must work unchanged, both when the nodes
 * are found through the broker (`NUVEM_BROKER`) and when they are listed
 * (`NUVEM_NODES`, the dead node's URL included); `status` exits 0 and shows
 * the dead node; `watch` prints each change.
 *
 * The CLI runs as a child process, the package bin (bin/nuvem.js) running
 * the build in dist/ as installed (`npm test` builds it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { runScript, type Run } from './_support/run_script.ts';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBroker, type RunningBroker } from '../broker/mod.ts';
import { createClient } from '../client/mod.ts';
import { REPO_ROOT, startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';
import { sleep } from './_support/sleep.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let dir: TempDir;
const BIN = join(REPO_ROOT, 'bin/nuvem.js');

interface TestCluster {
  broker: RunningBroker;
  nodes: NodeProcess[];
  urls: string[];
  dead: string;
}
const clusters: TestCluster[] = [];
let three: TestCluster;
let two: TestCluster;

/** A broker and `n` nodes; the last one is then killed (`kill -9`) and seen offline. */
async function clusterWithOneDown(label: string, n: number): Promise<TestCluster> {
  const broker = await startBroker({ port: 0, wsPort: false });
  const nodes = await Promise.all(Array.from({ length: n }, (_, i) => {
    const dataDir = join(dir.path, `${label}-node-${i + 1}`);
    mkdirSync(dataDir, { recursive: true });
    return startNodeProcess({ dataDir, args: ['--id', `node-${i + 1}`, '--broker', broker.mqttUrl, '--log-level', 'warn'], timeoutMs: 30_000 });
  }));
  const cluster: TestCluster = { broker, nodes, urls: nodes.map((p) => p.url), dead: `node-${n}` };
  clusters.push(cluster);
  const watcher = createClient({ broker: broker.mqttUrl });
  try {
    await waitFor(`${label}: all nodes online`, async () => (await watcher.nodes()).filter((s) => s.state === 'online').length === n);
    // Each node must know the others before one dies, or it would not know whom not to wait for.
    await waitFor(`${label}: the nodes see each other`, async () => {
      for (const p of nodes) {
        const s = (await (await fetch(`${p.url}/status`)).json()) as { cluster: { state: string }[] };
        if (s.cluster.filter((m) => m.state === 'online').length !== n - 1) return false;
      }
      return true;
    });
    await nodes[n - 1].kill();
    await waitFor(`${label}: the killed node offline`, async () => (await watcher.nodes()).find((s) => s.id === cluster.dead)?.state === 'offline');
  } finally {
    await watcher.close();
  }
  return cluster;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}


/** Runs the CLI with `env` (and nothing else that says where the cluster is). */
function nuvem(args: string[], env: Record<string, string>, options: { cwd: string }): Promise<Run> {
  return runScript(BIN, args, { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
}

function ok(run: Run, what: string): Run {
  assert.is(run.code, 0, `${what} exited ${run.code}: ${run.stderr}${run.stdout}`);
  assert.not.match(run.stderr, /through tsx/, `${what} ran the build in dist/`);
  return run;
}

/** Watch processes still running, stopped in any case at the end (they would reconnect forever). */
const watchers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of watchers) child.kill('SIGKILL');
});

/** `nuvem watch FOLDER --json`, resolved once it says it is watching. */
async function startWatch(folder: string, env: Record<string, string>, cwd: string) {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'watch', folder, '--json'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } });
  const changes: { op: string; path: string; from?: string }[] = [];
  const logs: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => changes.push(JSON.parse(line)));
  watchers.add(child);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => {
    watchers.delete(child);
    resolve(code);
  }));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      logs.push(line);
      if (JSON.parse(line).msg === 'watching changes') resolve();
    });
    void exited.then((code) => reject(new Error(`watch exited (${code}) before watching:\n${logs.join('\n')}`)));
  });
  return {
    changes,
    logs,
    /** Ctrl-C; resolves to the exit code. */
    async stop(): Promise<number | null> {
      child.kill('SIGINT');
      return exited;
    },
  };
}

/** Every client command, in the order a person might use them, against a cluster with a node down. */
async function everyCommand(label: string, cluster: TestCluster, env: Record<string, string>): Promise<void> {
  const cwd = join(dir.path, `work-${label}`);
  mkdirSync(cwd, { recursive: true });
  const first = randomBytes(200_000);
  const second = randomBytes(150_000);
  await writeFile(join(cwd, 'first.bin'), first);
  await writeFile(join(cwd, 'second.bin'), second);
  const run = (...args: string[]) => nuvem(args, env, { cwd });
  const base = label;

  const watch = await startWatch(base, env, cwd);
  const [status, put1, mkdir] = await Promise.all([
    run('status', ...(base.startsWith('b') ? ['--json'] : [])), run('put', 'first.bin', `${base}/docs/a.bin`, '--json'), run('mkdir', `${base}/folder`),
  ]);
  ok(status, 'status');
  const total = cluster.nodes.length;
  if (base.startsWith('b')) {
    const reported = (JSON.parse(status.stdout) as { nodes: { id: string; state: string }[] }).nodes;
    assert.equal(reported.map((n) => `${n.id} ${n.state}`).sort(), cluster.nodes.map((_, i) => `node-${i + 1} ${i === total - 1 ? 'offline' : 'online'}`));
  } else {
    assert.match(status.stdout, new RegExp(`${total - 1} of ${total} nodes online`));
    // Listed by URL and dead from the start, the node is known by its URL only.
    const deadUrl = cluster.urls[total - 1].replace(/[.]/g, '\\.');
    assert.match(status.stdout, new RegExp(`${deadUrl}\\s+unreachable`));
  }
  assert.is(JSON.parse(ok(put1, 'put').stdout).sha256, sha256(first));
  ok(mkdir, 'mkdir');

  const [put2, ls] = await Promise.all([run('put', 'second.bin', `${base}/docs/a.bin`), run('ls', '-r', base, '--json')]);
  ok(put2, 'put (a new version)');
  const listed = (JSON.parse(ok(ls, 'ls -r').stdout) as { entries: { path: string }[] }).entries.map((e) => e.path);
  assert.ok(listed.includes(`${base}/docs/a.bin`) && listed.includes(`${base}/folder`), listed.join(', '));

  const [get, revisions, stat] = await Promise.all([
    run('get', `${base}/docs/a.bin`, 'copy.bin', '-v'), run('revisions', `${base}/docs/a.bin`, '--json'), run('stat', `${base}/docs/a.bin`, '--json'),
  ]);
  ok(get, 'get');
  assert.is(sha256(await readFile(join(cwd, 'copy.bin'))), sha256(second));
  assert.match(get.stderr, /-> 200, served by node node-\d/, '-v says which node served');
  assert.not.match(get.stderr, new RegExp(`served by node ${cluster.dead}`));
  const kept = (JSON.parse(ok(revisions, 'revisions').stdout) as { revisions: { sha256: string }[] }).revisions;
  assert.ok(kept.some((r) => r.sha256 === sha256(first)), 'the first version is kept as a revision');
  assert.is(JSON.parse(ok(stat, 'stat').stdout).sha256, sha256(second));

  ok(await run('mv', `${base}/docs/a.bin`, `${base}/folder/a.bin`), 'mv');
  ok(await run('rm', '-r', `${base}/folder`), 'rm -r');
  await waitFor('the watch to see the delete', async () => watch.changes.some((c) => c.op === 'delete' && c.path === `${base}/folder/a.bin`), 10_000)
    .catch(() => {});
  assert.is(await watch.stop(), 0, 'watch ends cleanly on Ctrl-C');
  const seen = watch.changes.map((c) => `${c.op} ${c.path}`);
  for (const expected of [`put ${base}/docs/a.bin`, `mkcol ${base}/folder`, `move ${base}/folder/a.bin`, `delete ${base}/folder/a.bin`]) {
    assert.ok(seen.includes(expected), `watch did not show "${expected}"; it showed:\n${seen.join('\n')}\n${watch.logs.join('\n')}`);
  }
}

test.before(async () => {
  try {
    dir = tempDir('cli-cluster');
    [three, two] = await Promise.all([clusterWithOneDown('three', 3), clusterWithOneDown('two', 2)]);
  } catch (err) {
    console.error('cli_cluster.test.ts: cannot set up:', err); // uvu does not report a failing hook
    throw err;
  }
});

test.after(async () => {
  for (const child of watchers) child.kill('SIGKILL');
  for (const c of clusters) {
    await Promise.all(c.nodes.map((p) => p.kill()));
    await c.broker.close();
  }
  dir?.cleanup();
});

// ---

// Each cluster serves both ways of finding it at once (separate folders): half the wall time.

test('one node of three down: every command works, through the broker (NUVEM_BROKER) and from the node list (NUVEM_NODES, the dead one included)', async () => {
  await Promise.all([
    everyCommand('b3', three, { NUVEM_BROKER: three.broker.mqttUrl }),
    everyCommand('n3', three, { NUVEM_NODES: three.urls.join(',') }),
  ]);
});

test('one node of two down: every command works, through the broker and from the node list', async () => {
  await Promise.all([
    everyCommand('b2', two, { NUVEM_BROKER: two.broker.mqttUrl }),
    everyCommand('n2', two, { NUVEM_NODES: two.urls.join(',') }),
  ]);
});

test('nuvem status through the broker exits 0 with a node down', async () => {
  const run = ok(await nuvem(['status'], { NUVEM_BROKER: two.broker.mqttUrl }, { cwd: dir.path }), 'nuvem status');
  assert.match(run.stdout, /1 of 2 nodes online/, run.stdout + run.stderr);
  assert.match(run.stdout, /node-1\s+online\s+(\d+ ms|[\d.]+ s)\s+\d+\s+[\d.]+ ms/, 'heartbeat age, lag and latency shown');
});

test.run();
