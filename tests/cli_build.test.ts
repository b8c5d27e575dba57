/**
 * How `nuvem` runs (DESIGN.md section 5): bin/nuvem.js runs the build in
 * dist/; `nuvem node` serves from a child process started exactly as
 * `nuvem up` starts its nodes (bundle, V8 flags, environment), which stops
 * when the `nuvem node` process is gone, even by `kill -9`; and a checkout
 * without a build (or with sources newer than it) still runs every command
 * through tsx, saying so in one line on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { runScript, type Run } from './_support/run_script.ts';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeEntry } from '../nodes/node_child.ts';
import { NODE_ENV, NODE_FLAGS } from '../nodes/node_flags.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { until } from './_support/sleep.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const NO_BROKER = 'mqtt://127.0.0.1:1';
const FALLBACK_NOTE = /^nuvem: (no build in dist\/|dist\/ is older than the sources); running the TypeScript through tsx \(`npm run build` makes it start faster\)\n/;

let dir: TempDir;
const launched = new Set<ChildProcess>();


/** `node BIN ARGS` in `dir`, with nothing in the environment saying where a cluster is. */
function run(bin: string, args: string[], options: { nodeOptions?: string } = {}): Promise<Run> {
  return runScript(bin, args, {
    cwd: dir.path,
    env: { ...process.env, NUVEM_NODES: '', NUVEM_BROKER: '', NUVEM_TOKEN: '', NODE_OPTIONS: options.nodeOptions ?? '' },
  });
}

interface Launched {
  /** The `nuvem node` process. */
  launcher: ChildProcess;
  url: string;
  output: string[];
}

/** `nuvem node` (the repository's bin, or `bin`) on port 0, resolved once its node says it listens. */
function nuvemNode(name: string, bin = join(REPO_ROOT, 'bin/nuvem.js')): Promise<Launched> {
  const args = [bin, 'node', '--port', '0', '--data', join(dir.path, name), '--broker', NO_BROKER, '--no-watch'];
  const launcher = spawn(process.execPath, args, { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NUVEM_TOKEN: '' } });
  launched.add(launcher);
  const output: string[] = [];
  createInterface({ input: launcher.stderr! }).on('line', (line) => output.push(line));
  return new Promise((resolve, reject) => {
    launcher.once('exit', (code) => reject(new Error(`nuvem node exited (${code}):\n${output.join('\n')}`)));
    createInterface({ input: launcher.stdout! }).on('line', (line) => {
      output.push(line);
      if (line.includes('"msg":"listening"')) resolve({ launcher, url: JSON.parse(line).url, output });
    });
  });
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
  else child.once('exit', (code) => resolve(code));
});

/** A copy of the checkout's sources (no dist/ unless `withBuild`), node_modules linked. */
function checkout(name: string, withBuild: boolean): string {
  const root = join(dir.path, name);
  for (const part of ['bin', 'client', 'nodes', 'functions', 'broker', 'protocol', 'package.json', ...(withBuild ? ['dist'] : [])]) {
    cpSync(join(REPO_ROOT, part), join(root, part), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

test.before(() => {
  dir = tempDir('cli-build');
});

test.after(async () => {
  for (const launcher of launched) {
    const kids = launcher.pid && existsSync(`/proc/${launcher.pid}`) ? childrenOf(launcher.pid) : [];
    launcher.kill('SIGKILL');
    for (const pid of kids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  dir?.cleanup();
});

// ---

test('the build without esbuild (npm install --omit=dev) succeeds with a one-line note and builds nothing; bin/nuvem.js then runs through tsx', async () => {
  const bare = tempDir('build-bare');
  try {
    mkdirSync(join(bare.path, 'bin'));
    cpSync(join(REPO_ROOT, 'bin', 'build.cjs'), join(bare.path, 'bin', 'build.cjs'));
    const r = await runScript(join(bare.path, 'bin', 'build.cjs'), [], { cwd: bare.path, env: { ...process.env, NODE_PATH: '' } });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /^nuvem: esbuild is not installed \(an install without development dependencies\): no build in dist\/; bin\/nuvem\.js runs the TypeScript through tsx\n$/);
    assert.not.ok(existsSync(join(bare.path, 'dist')));
  } finally {
    bare.cleanup();
  }
});

test('bin/nuvem.js runs the build: --help loads dist/nuvem.cjs, not tsx, and says nothing on stderr', async () => {
  assert.ok(existsSync(join(REPO_ROOT, 'dist', 'nuvem.cjs')), 'dist/nuvem.cjs is built (npm test runs npm run build first)');
  // A preload that reports, at exit, which of the two the process loaded.
  const probe = join(dir.path, 'probe.cjs');
  writeFileSync(probe, `process.on('exit', () => {
    const loaded = Object.keys(require.cache);
    process.stderr.write('probe: ' + (loaded.some((f) => f.endsWith('nuvem.cjs')) ? 'build' : 'no build') + (loaded.some((f) => f.includes('tsx')) ? ', tsx' : '') + '\\n');
  });`);
  const help = await run(join(REPO_ROOT, 'bin/nuvem.js'), ['--help'], { nodeOptions: `--require ${probe}` });
  assert.is(help.code, 0, help.stderr);
  assert.is(help.stderr, 'probe: build\n');
  assert.match(help.stdout, /^Usage: nuvem <command> \[flags\]\n/);
});

test('nuvem node serves from a child started as nuvem up starts its nodes: the bundle, the V8 flags, MALLOC_ARENA_MAX', async () => {
  const node = await nuvemNode('settings');
  const [pid] = childrenOf(node.launcher.pid!);
  assert.ok(pid, 'the node runs in a child process');
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const entry = await nodeEntry();
  assert.ok(entry.bundled, 'dist/nuvem-node.cjs is fresh');
  assert.equal(cmdline.slice(1, 1 + entry.args.length), entry.args, 'the arguments up gives its nodes');
  for (const flag of NODE_FLAGS) assert.ok(cmdline.includes(flag), `started with ${flag}`);
  assert.ok(cmdline.some((a) => a.endsWith(join('dist', 'nuvem-node.cjs'))), cmdline.join(' '));
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  for (const [name, value] of Object.entries(NODE_ENV)) assert.ok(environ.includes(`${name}=${value}`), `${name}=${value} in its environment`);

  const body = randomBytes(200_000);
  assert.is((await fetch(`${node.url}/files/settings.bin`, { method: 'PUT', body })).status, 201);
  const got = new Uint8Array(await (await fetch(`${node.url}/files/settings.bin`)).arrayBuffer());
  assert.is(sha256(got), sha256(body));

  // SIGTERM to `nuvem node` stops the node cleanly; its exit code is the node's.
  node.launcher.kill('SIGTERM');
  assert.is(await exited(node.launcher), 0, node.output.join('\n'));
  assert.not.ok(alive(pid), 'the node process is gone');
  assert.ok(node.output.some((l) => l.includes('"msg":"stopped"')), 'the node stopped cleanly');
});

test('kill -9 of nuvem node: its node sees it gone and stops too', async () => {
  const node = await nuvemNode('orphan');
  const [pid] = childrenOf(node.launcher.pid!);
  node.launcher.kill('SIGKILL');
  await exited(node.launcher);
  await until('the node to stop after its launcher died', () => !alive(pid), 10_000);
  assert.ok(node.output.some((l) => l.includes('"msg":"stopped"')), `stopped cleanly:\n${node.output.join('\n')}`);
});

test('nuvem node with a bad flag exits 2 with the node\'s message', async () => {
  const bad = await run(join(REPO_ROOT, 'bin/nuvem.js'), ['node', '--port', 'abc', '--data', join(dir.path, 'bad')]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /^nuvem node: Cannot use --port "abc"/m);
});

test('a checkout without a build runs through tsx, saying so once: --help, node, put and get', async () => {
  const root = checkout('no-build', false);
  const bin = join(root, 'bin', 'nuvem.js');
  const help = await run(bin, ['--help']);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stderr, FALLBACK_NOTE);
  assert.match(help.stderr, /^nuvem: no build in dist\//);
  assert.is(help.stderr.split('\n').length, 2, `one line: ${help.stderr}`);
  assert.match(help.stdout, /^Usage: nuvem <command>/);

  const node = await nuvemNode('for-tsx', bin);
  assert.ok(node.output.some((line) => FALLBACK_NOTE.test(`${line}\n`)), `nuvem node says it runs through tsx:\n${node.output.join('\n')}`);
  const [pid] = childrenOf(node.launcher.pid!);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(cmdline.includes(join(root, 'nodes', 'main.ts')), `the node runs the copy's sources: ${cmdline.join(' ')}`);
  for (const flag of NODE_FLAGS) assert.ok(cmdline.includes(flag), `started with ${flag}`);
  const body = randomBytes(300_000);
  writeFileSync(join(dir.path, 'up.bin'), body);
  const put = await run(bin, ['put', 'up.bin', 'tsx/up.bin', '--nodes', node.url, '--json']);
  assert.is(put.code, 0, put.stderr);
  assert.match(put.stderr, FALLBACK_NOTE);
  assert.is(JSON.parse(put.stdout).sha256, sha256(body));
  const get = await run(bin, ['get', 'tsx/up.bin', 'down.bin', '--nodes', node.url]);
  assert.is(get.code, 0, get.stderr);
  assert.is(sha256(readFileSync(join(dir.path, 'down.bin'))), sha256(body));
  node.launcher.kill('SIGTERM');
  assert.is(await exited(node.launcher), 0);
});

test('a build older than the sources is not used: the copy runs through tsx and says why', async () => {
  const root = checkout('stale-build', true);
  const fresh = await run(join(root, 'bin', 'nuvem.js'), ['help', 'ls']);
  assert.is(fresh.code, 0, fresh.stderr);
  assert.is(fresh.stderr, '', 'a copied build newer than its sources is used');
  const later = new Date(Date.now() + 60_000);
  utimesSync(join(root, 'client', 'cli_usage.ts'), later, later);
  const stale = await run(join(root, 'bin', 'nuvem.js'), ['help', 'ls']);
  assert.is(stale.code, 0, stale.stderr);
  assert.match(stale.stderr, /^nuvem: dist\/ is older than the sources; running the TypeScript through tsx/);
  assert.match(stale.stdout, /^Usage: nuvem ls/);
});

test.run();
