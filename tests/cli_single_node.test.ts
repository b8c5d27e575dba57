/**
 * The real `nuvem` CLI as installed (bin/nuvem.js running the build in
 * dist/, as a child process; `npm test` builds it first) against one real
 * node started by that same CLI (`nuvem node`, on port 0 in a temp folder):
 * every client command, help and usage errors. No run may say it fell back
 * to tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, NuvemHttpError } from '../client/mod.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

let dir = '';
let node: ChildProcess | undefined;
let nodeUrl = '';
/** The node runs with a token, so every command also shows that `NUVEM_TOKEN` is sent. */
const TOKEN = 'cli-test-token';

/** Starts `nuvem node` on port 0 and resolves to the URL from its "listening" log line. */
function startNode(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  // No broker (port 1 refuses at once), so no other test's cluster is joined; no folder watcher, which this test does not need.
  const args = ['bin/nuvem.js', 'node', '--port', '0', '--data', dataDir, '--token', TOKEN, '--broker', 'mqtt://127.0.0.1:1', '--no-watch'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NUVEM_TOKEN: '' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`node did not start in 15 s:\n${out}\n${err}`)), 15_000);
    child.stderr!.on('data', (c) => (err += c));
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      for (const line of out.split('\n')) {
        if (!line.includes('"listening"')) continue;
        clearTimeout(timer);
        resolve({ child, url: JSON.parse(line).url });
        return;
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}:\n${out}\n${err}`));
    });
  });
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `nuvem ARGS` (the package bin) with NUVEM_NODES and NUVEM_TOKEN set for the node. */
function nuvem(args: string[], options: { input?: Uint8Array; env?: Record<string, string> } = {}): Promise<Run> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/nuvem.js'), ...args], {
    cwd: dir,
    stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, NUVEM_NODES: nodeUrl, NUVEM_TOKEN: TOKEN, ...options.env },
  });
  if (options.input) child.stdin!.end(options.input);
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => stdout.push(c));
  child.stderr!.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => {
    assert.not.match(stderr, TSX_NOTE, `nuvem ${args.join(' ')} did not run the build in dist/`);
    resolve({ code, stdout: Buffer.concat(stdout), stderr });
  }));
}

const ok = (run: Run, what: string) => assert.is(run.code, 0, `${what} failed (${run.code}): ${run.stderr}`);
/** Every run goes through the build: the fallback would say so on stderr. */
const TSX_NOTE = /through tsx/;
const json = (run: Run) => JSON.parse(run.stdout.toString());

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nuvem-cli-'));
  const started = await startNode(join(dir, 'node'));
  node = started.child;
  nodeUrl = started.url;
});

test.after(async () => {
  if (node?.pid !== undefined && node.exitCode === null) {
    const exited = new Promise((resolve) => node!.once('exit', resolve));
    process.kill(node.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (node.exitCode === null) process.kill(node.pid, 'SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

test('put a file, get it back to a file and to stdout: same SHA-256', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  await writeFile(join(dir, 'photo.bin'), data);
  const put = await nuvem(['put', 'photo.bin', 'photos/', '--json']);
  ok(put, 'put');
  const record = json(put);
  assert.is(record.path, 'photos/photo.bin');
  assert.is(record.size, data.length);
  assert.is(record.sha256, sha256(data));
  assert.type(record.version, 'string');

  const [toFile, toStdout] = await Promise.all([
    nuvem(['get', 'photos/photo.bin', 'copy.bin']),
    nuvem(['get', 'photos/photo.bin', '-']),
  ]);
  ok(toFile, 'get to a file');
  assert.match(toFile.stdout.toString(), /saved photos\/photo\.bin to copy\.bin/);
  assert.is(sha256(await readFile(join(dir, 'copy.bin'))), sha256(data));
  ok(toStdout, 'get to stdout');
  assert.is(sha256(toStdout.stdout), sha256(data));
  assert.is(toStdout.stderr, '');
  assert.equal((await readdir(dir)).filter((f) => f.includes('.nuvem-')), [], 'no temp file left');
});

test('put from stdin under a name with spaces, unicode and URL characters; mkdir', async () => {
  const [put, made] = await Promise.all([
    nuvem(['put', '-', 'notes/café a#1?.txt'], { input: Buffer.from('olá mundo\n') }),
    nuvem(['mkdir', 'empty', '--json']),
  ]);
  ok(put, 'put from stdin');
  assert.match(put.stdout.toString(), /^stored notes\/café a#1\?\.txt \(11 B, /);
  ok(made, 'mkdir');
  assert.is(json(made).path, 'empty');
});

test('ls (with -v) and ls -r', async () => {
  const [root, deep] = await Promise.all([nuvem(['ls', '-v']), nuvem(['ls', '-r'])]);
  ok(root, 'ls');
  const lines = root.stdout.toString().trim().split('\n');
  assert.match(lines[0], /^TYPE\s+SIZE\s+MODIFIED\s+NAME$/);
  assert.ok(lines.some((l) => /^folder\s.*\sphotos\/$/.test(l)), root.stdout.toString());
  assert.ok(lines.some((l) => /^folder\s.*\sempty\/$/.test(l)), 'the empty folder from mkdir');
  assert.not.ok(lines.some((l) => l.includes('photo.bin')), 'not recursive');
  assert.match(root.stderr, /GET .*\/files\/ -> 200, served by node \S+/);

  ok(deep, 'ls -r');
  const text = deep.stdout.toString();
  assert.match(text, /^file\s+3\.0 MiB\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+photos\/photo\.bin$/m);
  assert.match(text, /^file\s+11 B\s.*\snotes\/café a#1\?\.txt$/m);
});

test('stat --json prints the record; stat of a folder (token from --token)', async () => {
  const [run, folder] = await Promise.all([
    nuvem(['stat', 'photos/photo.bin', '--json']),
    nuvem(['stat', 'photos', '--token', TOKEN], { env: { NUVEM_TOKEN: '' } }),
  ]);
  ok(run, 'stat');
  const record = json(run);
  assert.is(record.path, 'photos/photo.bin');
  assert.is(record.type, 'file');
  assert.is(record.size, 3 * 1024 * 1024 + 17);
  assert.is(record.sha256, sha256(await readFile(join(dir, 'photo.bin'))));
  ok(folder, 'stat of a folder');
  assert.match(folder.stdout.toString(), /^type:\s+folder$/m);
});

test('mv renames; --no-overwrite refuses an existing target', async () => {
  const mv = await nuvem(['mv', 'notes/café a#1?.txt', 'notes/c.txt']);
  ok(mv, 'mv');
  assert.match(mv.stdout.toString(), /^moved notes\/café a#1\?\.txt to notes\/c\.txt$/m);
  const [moved, refused] = await Promise.all([
    nuvem(['get', 'notes/c.txt', '-']),
    nuvem(['mv', 'photos/photo.bin', 'notes/c.txt', '--no-overwrite']),
  ]);
  assert.is(moved.stdout.toString(), 'olá mundo\n');
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /^nuvem: \S/);
});

test('revisions after an overwrite keep the old version, readable with --version', async () => {
  ok(await nuvem(['put', '-', 'doc.txt'], { input: Buffer.from('first') }), 'put 1');
  ok(await nuvem(['put', '-', 'doc.txt'], { input: Buffer.from('second') }), 'put 2');
  const run = await nuvem(['revisions', 'doc.txt', '--json']);
  ok(run, 'revisions');
  const { revisions } = json(run);
  assert.is(revisions.length, 1);
  assert.is(revisions[0].size, 5);
  assert.is(revisions[0].sha256, sha256(Buffer.from('first')));
  const old = await nuvem(['get', 'doc.txt', '-', '--version', revisions[0].version]);
  assert.is(old.stdout.toString(), 'first');
});

test('rm; get of a missing file exits 1 with the node\'s message; rm of a folder needs -r', async () => {
  ok(await nuvem(['rm', 'doc.txt']), 'rm');
  const [missing, refused] = await Promise.all([nuvem(['get', 'doc.txt', '--json']), nuvem(['rm', 'notes'])]);
  assert.is(missing.code, 1);
  assert.is(missing.stderr, 'nuvem: No file or folder at "doc.txt"\n');
  assert.equal(json(missing), { error: 'not_found', message: 'No file or folder at "doc.txt"', status: 404 });
  assert.not.ok(existsSync(join(dir, 'doc.txt')), 'no local file left');
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /nuvem rm -r notes/);
  ok(await nuvem(['rm', '-r', 'notes']), 'rm -r');
});

test('the library follows next_cursor to the end and throws NuvemHttpError', async () => {
  const client = createClient({ nodes: [nodeUrl], token: TOKEN });
  const names = ['p/1', 'p/2', 'p/3', 'p/4', 'p/5'];
  await Promise.all(names.map((n) => client.put(n, n, { contentType: 'text/plain' })));
  const listed = await client.list('p', { limit: 2 });
  assert.equal(listed.map((e) => e.path).sort(), names);
  try {
    await client.get('p/none');
    assert.unreachable('expected a 404');
  } catch (err) {
    assert.instance(err, NuvemHttpError);
    assert.is((err as NuvemHttpError).status, 404);
    assert.is((err as NuvemHttpError).code, 'not_found');
  }
  await client.remove('p', { recursive: true });
});

test('--help, help COMMAND and status: usage on stdout, the node listed', async () => {
  const [help, helpPut, status] = await Promise.all([nuvem(['--help']), nuvem(['help', 'put']), nuvem(['status'])]);
  ok(help, '--help');
  assert.match(help.stdout.toString(), /^Usage: nuvem <command> \[flags\]\n/);
  for (const command of ['put', 'get', 'rm', 'mv', 'mkdir', 'ls', 'stat', 'revisions', 'status', 'watch', 'sync', 'nuvem node', 'nuvem up', 'nuvem broker']) {
    assert.ok(help.stdout.toString().includes(command), `--help mentions ${command}`);
  }
  assert.is(help.stderr, '');
  ok(helpPut, 'help put');
  assert.match(helpPut.stdout.toString(), /^Usage: nuvem put LOCAL \[REMOTE\]/);
  assert.match(helpPut.stdout.toString(), /--no-overwrite/);
  ok(status, 'status');
  assert.match(status.stdout.toString(), /^1 of 1 node online$/m, status.stdout.toString());
});

test('usage errors exit 2 with usage on stderr; an unreachable node or a wrong token exits 1', async () => {
  const [unknown, down, wrong] = await Promise.all([
    nuvem(['frobnicate']),
    nuvem(['ls'], { env: { NUVEM_NODES: 'http://127.0.0.1:1' } }),
    nuvem(['ls'], { env: { NUVEM_TOKEN: 'wrong' } }),
  ]);
  assert.is(wrong.code, 1);
  assert.is(wrong.stderr, 'nuvem: The bearer token is wrong\n');
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /^nuvem: Unknown command "frobnicate"\n/);
  assert.match(unknown.stderr, /Usage: nuvem/);
  assert.is(unknown.stdout.length, 0);
  assert.is(down.code, 1);
  assert.match(down.stderr, /^nuvem: Cannot reach http:\/\/127\.0\.0\.1:1/);
});

test.run();
