// The folder watcher (nodes/folder_watcher.ts) on real temp folders: settled
// batches for creates, edits, deletes, empty folders and renames; a file
// written slowly is reported only once it stops changing; ignored paths never
// show; one inotify watch per folder, none per file; close() leaves nothing running; the inotify watch limit becomes one
// warning and rescans, never a crash.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watch } from 'chokidar';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FolderWatcher, type FolderWatcherOptions, type RescanReason } from '../nodes/folder_watcher.ts';
import { skipped } from './_support/skip.ts';

const SETTLE = 200;
const roots: string[] = [];
process.once('exit', () => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'nuvem-watch-'));
  roots.push(root);
  return root;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Polls `check` until it returns a value, or fails after `ms`. */
async function waitFor<T>(what: string, check: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A started watcher on a fresh root, recording what it emits. */
async function started(options: Partial<FolderWatcherOptions> = {}) {
  const root = options.root ?? tempRoot();
  const logs: { level: string; msg: string; fields?: object }[] = [];
  const watcher = new FolderWatcher({
    settleMs: SETTLE,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    ...options,
    root,
  });
  const batches: { at: number; paths: string[] }[] = [];
  const rescans: RescanReason[] = [];
  watcher.on('settled', ({ paths }) => batches.push({ at: Date.now(), paths }));
  watcher.on('rescan', ({ reason }) => rescans.push(reason));
  await new Promise<void>((done) => watcher.once('ready', done));
  /** The first batch (after `from`) that has every one of `paths`. */
  const batchWith = (paths: string[], from = 0) =>
    waitFor(`a batch with ${paths.join(', ')}`, () =>
      batches.slice(from).find((b) => paths.every((p) => b.paths.includes(p))),
    );
  return { root, watcher, batches, rescans, logs, batchWith, file: (rel: string) => join(root, rel) };
}

/** Runs an ES module script under tsx in a child process; resolves with its exit code and stdout. */
async function runScript(script: string, wrap: string[] = []): Promise<{ code: number | null; out: string }> {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  const [command, ...args] = [...wrap, ...node];
  const child = spawn(command, args, {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const code = await new Promise<number | null>((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', (c) => {
      clearTimeout(kill);
      done(c);
    });
  });
  return { code, out };
}

const WATCHER_MODULE = fileURLToPath(new URL('../nodes/folder_watcher.ts', import.meta.url));

test('a created, a modified and a deleted file are each reported once settled', async () => {
  const w = await started();
  try {
    const t0 = Date.now();
    writeFileSync(w.file('a.txt'), 'one');
    const created = await w.batchWith(['a.txt']);
    assert.ok(created.at - t0 >= SETTLE, 'reported only after the settle time');

    const n = w.batches.length;
    writeFileSync(w.file('a.txt'), 'two, longer');
    await w.batchWith(['a.txt'], n);

    const m = w.batches.length;
    rmSync(w.file('a.txt'));
    await w.batchWith(['a.txt'], m);
    assert.is(w.watcher.pendingCount, 0);
  } finally {
    await w.watcher.close();
  }
});

test('an empty folder is reported', async () => {
  const w = await started();
  try {
    mkdirSync(w.file('empty'));
    await w.batchWith(['empty']);
  } finally {
    await w.watcher.close();
  }
});

test('a renamed file comes as one batch with both paths', async () => {
  const w = await started({ batchMs: 150 });
  try {
    writeFileSync(w.file('old.txt'), 'content');
    await w.batchWith(['old.txt']);
    const n = w.batches.length;
    renameSync(w.file('old.txt'), w.file('new.txt'));
    const batch = await w.batchWith(['new.txt'], n);
    assert.ok(batch.paths.includes('old.txt'), `both paths in one batch: ${batch.paths}`);
  } finally {
    await w.watcher.close();
  }
});

/** inotify watches this process holds now (one `inotify wd:` line per watch in /proc/self/fdinfo). */
function inotifyWatches(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:inotify') continue;
      count += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

test('one inotify watch per folder, none per file; a new folder is watched with what is in it', async () => {
  const root = tempRoot();
  for (const d of ['a', 'b', 'b/c']) {
    mkdirSync(join(root, d), { recursive: true });
    for (let i = 0; i < 100; i++) writeFileSync(join(root, d, `f${i}.txt`), `${d} ${i}`);
  }
  const before = inotifyWatches();
  const w = await started({ root });
  try {
    assert.is(inotifyWatches() - before, 4, 'watches for the root, a, b and b/c');
    writeFileSync(w.file('b/c/f7.txt'), 'edited'); // a file's change comes through its folder's watch
    await w.batchWith(['b/c/f7.txt']);
    mkdirSync(w.file('n/m'), { recursive: true });
    writeFileSync(w.file('n/m/x.txt'), 'x');
    await w.batchWith(['n', 'n/m', 'n/m/x.txt']);
    assert.is(inotifyWatches() - before, 6);
    rmSync(w.file('n'), { recursive: true });
    await waitFor('the watches of the removed folders to go', () => (inotifyWatches() - before === 4 ? true : undefined));
  } finally {
    await w.watcher.close();
  }
  assert.is(inotifyWatches(), before);
});

// A folder moved away is reported as that folder (consumers check a reported path with its subtree); what is in its new place is reported path by path.
test('a moved folder comes as one batch with the old and new folder paths', async () => {
  const w = await started({ batchMs: 150 });
  try {
    mkdirSync(w.file('d/e'), { recursive: true });
    writeFileSync(w.file('d/e/f.txt'), 'x');
    await w.batchWith(['d', 'd/e', 'd/e/f.txt']);
    const n = w.batches.length;
    renameSync(w.file('d'), w.file('g'));
    const batch = await w.batchWith(['g'], n);
    assert.ok(batch.paths.includes('d'), `old and new folder in one batch: ${batch.paths}`);
    const inside = ['g/e', 'g/e/f.txt'];
    const reported = () => new Set(w.batches.slice(n).flatMap((b) => b.paths));
    await waitFor('the paths inside the moved folder', () => (inside.every((p) => reported().has(p)) ? true : undefined));
  } finally {
    await w.watcher.close();
  }
});

test('a file written slowly over 3 s is reported only after it stops changing', async () => {
  const settleMs = 1000;
  const w = await started({ settleMs });
  const sizesAtReport: number[] = [];
  w.watcher.on('settled', ({ paths }) => {
    if (paths.includes('slow.bin')) sizesAtReport.push(statSync(w.file('slow.bin')).size);
  });
  try {
    const chunk = Buffer.alloc(4096, 7);
    writeFileSync(w.file('slow.bin'), chunk);
    for (let i = 0; i < 9; i++) {
      await sleep(330);
      appendFileSync(w.file('slow.bin'), chunk);
    }
    const lastWrite = Date.now();
    const finalSize = 10 * chunk.length;
    const batch = await w.batchWith(['slow.bin']);
    assert.ok(batch.at - lastWrite >= settleMs - 20, `reported ${batch.at - lastWrite} ms after the last write`);
    await sleep(settleMs + 200);
    assert.equal(sizesAtReport, [finalSize], 'reported once, at its final size');
  } finally {
    await w.watcher.close();
  }
});

test('ignored paths and the .nuvem folder are never reported', async () => {
  const w = await started({ ignore: (p) => p.endsWith('.tmp') || p === 'skip' || p.startsWith('skip/') });
  try {
    mkdirSync(w.file('.nuvem'));
    writeFileSync(w.file('.nuvem/meta'), 'x');
    writeFileSync(w.file('.upload-1.tmp'), 'x');
    mkdirSync(w.file('skip/inner'), { recursive: true });
    writeFileSync(w.file('skip/inner/y'), 'y');
    mkdirSync(w.file('sub'));
    writeFileSync(w.file('sub/.nuvem'), 'reserved name anywhere');
    writeFileSync(w.file('ok.txt'), 'ok');
    await w.batchWith(['ok.txt']);
    await sleep(SETTLE * 2);
    const all = w.batches.flatMap((b) => b.paths);
    for (const p of all) assert.ok(p === 'ok.txt' || p === 'sub', `unexpected path ${p}`);
  } finally {
    await w.watcher.close();
  }
});

test('too many pending paths become one rescan instead of per-path timers', async () => {
  const w = await started({ maxPending: 3 });
  try {
    for (let i = 0; i < 10; i++) writeFileSync(w.file(`f${i}`), 'x');
    await waitFor('a rescan', () => (w.rescans.length ? true : undefined));
    assert.equal(w.rescans, ['overflow']);
    assert.is(w.watcher.pendingCount, 0);
    await sleep(SETTLE * 2);
    assert.equal(w.rescans, ['overflow']);
  } finally {
    await w.watcher.close();
  }
});

test('the inotify watch limit: one warning naming the sysctl, a rescan, the watcher closed, no crash', async () => {
  let inner: ReturnType<typeof watch> | undefined;
  const w = await started({
    fallbackRescanMs: 150,
    createWatcher: (root, options) => (inner = watch(root, options)),
  });
  try {
    const enospc = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached, watch'), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'watch',
    });
    inner!.emit('error', enospc);
    inner!.emit('error', enospc);
    await waitFor('the fallback rescan', () => (w.rescans.length ? true : undefined));
    assert.is(w.rescans[0], 'watch_limit');
    const warns = w.logs.filter((l) => l.level === 'warn');
    assert.is(warns.length, 1, 'one warning');
    assert.match(warns[0].msg, 'fs.inotify.max_user_watches');
    assert.ok(inner!.closed, 'the chokidar watcher is closed');
    await waitFor('a periodic rescan', () => (w.rescans.includes('periodic') ? true : undefined));
    writeFileSync(w.file('after.txt'), 'x');
    await sleep(SETTLE * 2);
    assert.is(w.batches.length, 0, 'nothing reported once watching stopped');
  } finally {
    await w.watcher.close();
  }
  const count = w.rescans.length;
  await sleep(400);
  assert.is(w.rescans.length, count, 'no periodic rescan after close');
});

test('another watcher error asks for one rescan', async () => {
  let inner: ReturnType<typeof watch> | undefined;
  const w = await started({ createWatcher: (root, options) => (inner = watch(root, options)) });
  try {
    inner!.emit('error', Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    inner!.emit('error', Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await waitFor('a rescan', () => (w.rescans.length ? true : undefined));
    assert.equal(w.rescans, ['error']);
    writeFileSync(w.file('later.txt'), 'x');
    await w.batchWith(['later.txt']);
  } finally {
    await w.watcher.close();
  }
});

test('close() with paths still settling leaves nothing running: the process exits', async () => {
  const root = tempRoot();
  const { code, out } = await runScript(`
    import { writeFileSync } from 'node:fs';
    const { FolderWatcher } = await import(${JSON.stringify(WATCHER_MODULE)});
    const w = new FolderWatcher({ root: ${JSON.stringify(root)}, settleMs: 60000 });
    await new Promise((done) => w.once('ready', done));
    writeFileSync(${JSON.stringify(join(root, 'pending.txt'))}, 'x');
    for (let i = 0; i < 500 && w.pendingCount === 0; i++) await new Promise((done) => setTimeout(done, 10));
    console.log('pending ' + w.pendingCount);
    await w.close();
    console.log('closed');
  `);
  assert.is(code, 0, `exit code (output: ${out})`);
  assert.match(out, 'pending 1');
  assert.match(out, 'closed');
});

// A real ENOSPC: a child user namespace (unshare -U -r) has its own inotify
// watch limit, so the machine's fs.inotify.max_user_watches is left alone.
const canUnshare = spawnSync('unshare', ['-U', '-r', 'sh', '-c', 'echo 20 > /proc/sys/user/max_inotify_watches']).status === 0;

test('a real inotify watch limit (user namespace)', async () => {
  if (!canUnshare) return skipped('unshare -U -r is not available');
  const root = tempRoot();
  for (let i = 0; i < 40; i++) mkdirSync(join(root, `d${i}`));
  const script = `
    const { FolderWatcher } = await import(${JSON.stringify(WATCHER_MODULE)});
    const w = new FolderWatcher({
      root: ${JSON.stringify(root)},
      settleMs: 100,
      fallbackRescanMs: 200,
      log: (level, msg) => console.log(level + ' ' + msg),
    });
    w.on('rescan', ({ reason }) => console.log('rescan ' + reason));
    await new Promise((done) => w.once('ready', done));
    await new Promise((done) => setTimeout(done, 500));
    await w.close();
    console.log('closed');
  `;
  const limit = 'echo 20 > /proc/sys/user/max_inotify_watches && exec "$@"';
  const { code, out } = await runScript(script, ['unshare', '-U', '-r', 'sh', '-c', limit, 'sh']);
  assert.is(code, 0, `exit code (output: ${out})`);
  const warns = out.split('\n').filter((line) => line.startsWith('warn '));
  assert.is(warns.length, 1, `one warning: ${out}`);
  assert.match(warns[0], 'fs.inotify.max_user_watches');
  assert.match(out, 'rescan watch_limit');
  assert.match(out, 'rescan periodic');
  assert.match(out, 'closed');
});

test.run();
