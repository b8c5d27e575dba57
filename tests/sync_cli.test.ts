/**
 * `nuvem sync` as a real process (`bin/nuvem.js`) against a 2-node cluster:
 * `--once` exits 0 when the folder is in sync and 1 when it cannot be (no
 * node reachable, the remote folder is a file); a live run prints JSON log lines with a `level`, syncs both ways,
 * and stops cleanly on SIGTERM and on Ctrl-C (SIGINT).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const cli = suite('nuvem sync (command line)');
let cluster: Cluster;
let dir: TempDir;
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface Proc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

function nuvem(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/nuvem.js'), ...args], {
    cwd: dir.path,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NUVEM_BROKER: cluster.brokerUrl, ...env },
  });
  children.add(child);
  const proc: Proc = {
    child, lines: [], stdout: [], stderr: [],
    exited: new Promise((resolve) => child.on('close', (code) => {
      children.delete(child);
      resolve(code);
    })),
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    proc.stdout.push(line);
    try {
      proc.lines.push(JSON.parse(line));
    } catch {
      // checked by the tests: every line must be JSON
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => proc.stderr.push(line));
  return proc;
}

const output = (p: Proc) => `stdout:\n${p.stdout.join('\n')}\nstderr:\n${p.stderr.join('\n')}`;

cli.before(async () => {
  cluster = await startCluster({ nodes: 2, label: 'sync-cli' });
  dir = tempDir('sync-cli');
});

cli.after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await cluster?.close();
  dir?.cleanup();
});

cli('--once exits 0 once the folder is in sync, and again when there is nothing to do', async () => {
  const local = join(dir.path, 'once');
  mkdirSync(join(local, 'sub'), { recursive: true });
  writeFileSync(join(local, 'a.txt'), 'alpha');
  writeFileSync(join(local, 'sub/b.txt'), 'beta');
  await cluster.put(1, 'once/from-cluster.txt', 'gamma');
  const first = nuvem(['sync', local, '--remote', 'once', '--once']);
  assert.is(await first.exited, 0, output(first));
  assert.is(readFileSync(join(local, 'from-cluster.txt'), 'utf8'), 'gamma');
  assert.is(sha256((await cluster.get(2, 'once/sub/b.txt')).body), sha256('beta'));
  assert.is(first.stdout.length, first.lines.length, `every line is JSON:\n${output(first)}`);
  assert.ok(first.lines.every((l) => typeof l.level === 'string'), output(first));
  assert.ok(first.lines.some((l) => l.msg === 'in sync'), output(first));
  const second = nuvem(['sync', local, '--remote', 'once', '--once']);
  assert.is(await second.exited, 0, output(second));
  const summary = second.lines.find((l) => l.msg === 'in sync');
  assert.is(summary?.actions, 0, output(second));
});

cli('--once exits 1 when no node can be reached, or the remote folder is a file', async () => {
  const local = join(dir.path, 'broken');
  mkdirSync(local);
  writeFileSync(join(local, 'a.txt'), 'alpha');
  const unreachable = nuvem(['sync', local, '--once', '--nodes', 'http://127.0.0.1:9']);
  assert.is(await unreachable.exited, 1, output(unreachable));
  assert.match(unreachable.stderr.join('\n'), /nuvem: /);
  await cluster.put(1, 'plain-file', 'not a folder');
  const local2 = join(dir.path, 'broken2');
  mkdirSync(local2);
  const onFile = nuvem(['sync', local2, '--remote', 'plain-file', '--once']);
  assert.is(await onFile.exited, 1, output(onFile));
  assert.match(onFile.stderr.join('\n'), /plain-file/);
});

cli('a live nuvem sync logs JSON lines, syncs both ways, and stops cleanly on SIGTERM and Ctrl-C', async () => {
  const local = join(dir.path, 'live');
  mkdirSync(local);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const run = nuvem(['sync', local, '--remote', 'live']);
    await waitFor('the first pass', () => run.lines.some((l) => l.msg === 'live'), 30_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${output(run)}`);
    });
    const name = `up-${signal}.txt`;
    writeFileSync(join(local, name), `written before ${signal}`);
    await waitFor(`${name} in the cluster`, async () => (await cluster.get(2, `live/${name}`)).status === 200);
    await cluster.put(2, `live/down-${signal}.txt`, `from the cluster before ${signal}`);
    await waitFor(`down-${signal}.txt locally`, () => existsSync(join(local, `down-${signal}.txt`)));
    const stopped = Date.now();
    run.child.kill(signal);
    assert.is(await run.exited, 0, output(run));
    assert.ok(Date.now() - stopped < 5000, `stopping took ${Date.now() - stopped} ms`);
    assert.is(run.stdout.length, run.lines.length, `every line is JSON:\n${output(run)}`);
    assert.ok(run.lines.every((l) => ['debug', 'info', 'warn', 'error'].includes(String(l.level))), output(run));
    assert.ok(run.lines.some((l) => l.msg === 'change' && l.path === name && l.direction === 'up'), output(run));
    assert.ok(run.lines.some((l) => l.msg === 'change' && l.path === `down-${signal}.txt` && l.direction === 'down'), output(run));
    assert.is(run.lines.at(-1)?.msg, 'stopped', output(run));
  }
  // The state was saved: a run with --once finds nothing to do.
  const again = nuvem(['sync', local, '--remote', 'live', '--once']);
  assert.is(await again.exited, 0, output(again));
  assert.is(again.lines.find((l) => l.msg === 'in sync')?.actions, 0, output(again));
});

cli.run();
