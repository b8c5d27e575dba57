/**
 * `nuvem sync` (client/sync.ts) against a real 3-node cluster and the
 * embedded broker: two mirrors, A bound to node-1 and B to node-2 (the
 * client's `prefer`), each test on a remote folder of its own. Changes on
 * one side show on the other within seconds; edits made while B is stopped
 * reconcile when it starts again; a true conflict leaves exactly one
 * conflict copy; a delete never beats an edit; a big file moved is not sent
 * again (200 MiB); ignored files stay local; a killed node (kill -9) or a restarted
 * broker does not stop the mirror. Every wait polls a condition with a
 * deadline.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type NuvemClient } from '../client/mod.ts';
import { SyncFolder } from '../client/sync.ts';
import { SyncState } from '../client/sync_state.ts';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { sha256File } from './_support/bytes.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const sync = suite('nuvem sync between two nodes');
let cluster: Cluster;
let dir: TempDir;
const clients: NuvemClient[] = [];
const mirrors = new Set<SyncFolder>();
let counter = 0;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface Side {
  name: string;
  dir: string;
  node: number;
  mirror?: SyncFolder;
  errors: string[];
  /** `METHOD URL` of every request its client sent (the change feed's included). */
  requests: string[];
}

/** A local folder synced with `remote` through a client bound to node `node`, started. */
async function startSide(side: Side, remote: string): Promise<SyncFolder> {
  const client = createClient({
    broker: cluster.brokerUrl, prefer: cluster.id(side.node),
    fetch: (input, init) => {
      side.requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
      return fetch(input, init);
    },
  });
  clients.push(client);
  const mirror = new SyncFolder({
    dir: side.dir, client, remote, host: side.name, settleMs: 200,
    log: (level, msg, fields) => {
      if (level === 'error') side.errors.push(`${msg} ${JSON.stringify(fields ?? {})}`);
    },
  });
  mirror.on('error', ({ path, error }) => side.errors.push(`${path ?? ''}: ${error.message}`));
  mirrors.add(mirror);
  side.mirror = mirror;
  await mirror.start();
  return mirror;
}

async function stopSide(side: Side): Promise<void> {
  const mirror = side.mirror!;
  side.mirror = undefined;
  mirrors.delete(mirror);
  await mirror.close();
}

/** Two empty local folders, A on node-1 and B on node-2, synced with a fresh remote folder. */
async function pair(options: { start?: boolean } = {}) {
  const remote = `t${++counter}`;
  const a: Side = { name: 'A', dir: join(dir.path, `${remote}-A`), node: 1, errors: [], requests: [] };
  const b: Side = { name: 'B', dir: join(dir.path, `${remote}-B`), node: 2, errors: [], requests: [] };
  mkdirSync(a.dir);
  mkdirSync(b.dir);
  if (options.start !== false) {
    await startSide(a, remote);
    await startSide(b, remote);
  }
  return { remote, a, b };
}

/** Every synced path under a folder (without `.nuvem-sync`), with `/` at the end of folders, and file contents' sha256. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (path === '.nuvem-sync') continue;
      if (entry.isDirectory()) {
        out[`${path}/`] = 'folder';
        walk(path);
      } else out[path] = sha256(readFileSync(join(root, path)));
    }
  };
  walk('');
  return out;
}

const same = (a: Side, b: Side) => JSON.stringify(tree(a.dir)) === JSON.stringify(tree(b.dir));
const read = (side: Side, path: string) => (existsSync(join(side.dir, path)) ? readFileSync(join(side.dir, path), 'utf8') : undefined);
const conflictCopies = (side: Side, folder = '') => readdirSync(join(side.dir, folder)).filter((n) => n.includes('(conflict '));

/** Both mirrors idle after a full reconcile each: nothing more is going to happen. */
async function quiet(...sides: Side[]): Promise<void> {
  for (const side of sides) {
    side.mirror!.rescan();
    await side.mirror!.idle();
  }
  for (const side of sides) await side.mirror!.idle();
}

function noErrors(...sides: Side[]): void {
  for (const side of sides) assert.equal(side.errors, [], `${side.name} reported errors`);
}

/** `name` of every series of a metric summed over every running node, for series whose labels match. */
async function metricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const k of cluster.live()) {
    const text = (await cluster.request(k, '/metrics')).body.toString('utf8');
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k2, v]) => have[k2] === v)) sum += Number(m[3]);
    }
  }
  return sum;
}

sync.before(async () => {
  cluster = await startCluster({ nodes: 3, label: 'sync' });
  dir = tempDir('sync');
});

sync.after(async () => {
  for (const mirror of mirrors) await mirror.close();
  for (const client of clients) await client.close();
  await cluster?.close();
  dir?.cleanup();
});

sync('create, modify, delete, rename and mkdir on one side show on the other within seconds', async () => {
  const { a, b } = await pair();
  writeFileSync(join(a.dir, 'hello.txt'), 'hello from A');
  await waitFor('B to get hello.txt', () => read(b, 'hello.txt') === 'hello from A');
  writeFileSync(join(b.dir, 'hello.txt'), 'changed on B');
  await waitFor('A to get the edit', () => read(a, 'hello.txt') === 'changed on B');
  mkdirSync(join(a.dir, 'docs/empty'), { recursive: true });
  writeFileSync(join(a.dir, 'docs/notes.md'), '# notes');
  await waitFor('B to get docs/', () => existsSync(join(b.dir, 'docs/empty')) && read(b, 'docs/notes.md') === '# notes');
  renameSync(join(b.dir, 'hello.txt'), join(b.dir, 'docs/renamed.txt'));
  await waitFor('A to see the rename', () => read(a, 'docs/renamed.txt') === 'changed on B' && !existsSync(join(a.dir, 'hello.txt')));
  rmSync(join(a.dir, 'docs/notes.md'));
  await waitFor('B to lose docs/notes.md', () => !existsSync(join(b.dir, 'docs/notes.md')));
  renameSync(join(a.dir, 'docs'), join(a.dir, 'papers'));
  await waitFor('B to see the folder renamed', () => existsSync(join(b.dir, 'papers/empty')) && !existsSync(join(b.dir, 'docs')));
  await quiet(a, b);
  assert.equal(tree(a.dir), tree(b.dir));
  assert.equal(tree(a.dir), { 'papers/': 'folder', 'papers/empty/': 'folder', 'papers/renamed.txt': sha256('changed on B') });
  noErrors(a, b);
  // Every change is in the change log, with its direction.
  const lines = readFileSync(join(b.dir, '.nuvem-sync/change_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const first = lines.find((l) => l.path === 'hello.txt');
  assert.equal({ ...first, time: typeof first.time }, {
    time: 'string', type: 'created', path: 'hello.txt', kind: 'file', size: 12, sha256: sha256('hello from A'), source: 'sync',
    version: first.version, direction: 'down',
  });
  assert.ok(lines.some((l) => l.type === 'moved' && l.from === 'hello.txt' && l.path === 'docs/renamed.txt' && l.direction === 'up'));
  assert.ok(lines.some((l) => l.type === 'created' && l.path === 'docs/empty' && l.kind === 'folder' && l.direction === 'down'));
  assert.ok(lines.some((l) => l.type === 'deleted' && l.path === 'docs/notes.md' && l.direction === 'down'));
  // No echo: what one side downloaded it never sent back, what it uploaded it never fetched again.
  const history = (side: Side, path: string) => readFileSync(join(side.dir, '.nuvem-sync/change_log.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l)).filter((l) => l.path === path).map((l) => `${l.type} ${l.direction}`);
  assert.equal(history(b, 'docs/notes.md'), ['created down', 'deleted down']);
  assert.equal(history(a, 'docs/notes.md'), ['created up', 'deleted up']);
  assert.equal(history(a, 'hello.txt'), ['created up', 'modified down']);
  // What the cluster holds is what both sides hold.
  const listed = (await cluster.list(3)).filter((r) => r.path.startsWith('t1/')).map((r) => r.path);
  assert.ok(listed.includes('t1/papers/renamed.txt'), listed.join(', '));
});

sync('ignored files stay local; a change to .nuvemignore applies at once', async () => {
  const { a, b } = await pair();
  writeFileSync(join(a.dir, '.nuvemignore'), '*.tmp\nbuild/\n');
  await waitFor('B to get .nuvemignore', () => read(b, '.nuvemignore') !== undefined);
  mkdirSync(join(a.dir, 'build'));
  writeFileSync(join(a.dir, 'build/out.bin'), 'built');
  writeFileSync(join(a.dir, 'scratch.tmp'), 'temp');
  writeFileSync(join(a.dir, 'kept.txt'), 'kept');
  await waitFor('B to get kept.txt', () => read(b, 'kept.txt') === 'kept');
  await quiet(a, b);
  assert.not.ok(existsSync(join(b.dir, 'scratch.tmp')));
  assert.not.ok(existsSync(join(b.dir, 'build')));
  const remote = (await cluster.list(1)).map((r) => r.path).filter((p) => p.startsWith('t2/'));
  assert.equal(remote.sort(), ['t2/.nuvemignore', 't2/kept.txt']);
  // No longer ignored: the .tmp file syncs; the ignored folder stays where it is.
  writeFileSync(join(a.dir, '.nuvemignore'), 'build/\n');
  await waitFor('B to get scratch.tmp', () => read(b, 'scratch.tmp') === 'temp');
  // Ignored on B's side too (the rules file synced): a file B makes there stays on B.
  writeFileSync(join(b.dir, 'build-not.txt'), 'synced');
  mkdirSync(join(b.dir, 'build'));
  writeFileSync(join(b.dir, 'build/local-only.txt'), 'local');
  await waitFor('A to get build-not.txt', () => read(a, 'build-not.txt') === 'synced');
  await quiet(a, b);
  assert.not.ok(existsSync(join(a.dir, 'build/local-only.txt')));
  assert.is(read(a, 'build/out.bin'), 'built');
  noErrors(a, b);
});

sync('edits made on both sides while B was stopped reconcile when it starts again', async () => {
  const { remote, a, b } = await pair();
  for (const name of ['keep.txt', 'edit-a.txt', 'edit-b.txt', 'del-a.txt', 'del-b.txt']) writeFileSync(join(a.dir, name), `v1 ${name}`);
  await waitFor('B to get the first files', () => same(a, b) && readdirSync(b.dir).length === 6);
  await stopSide(b);
  writeFileSync(join(a.dir, 'edit-a.txt'), 'v2 from A');
  rmSync(join(a.dir, 'del-a.txt'));
  writeFileSync(join(a.dir, 'new-a.txt'), 'new on A');
  writeFileSync(join(b.dir, 'edit-b.txt'), 'v2 from B');
  rmSync(join(b.dir, 'del-b.txt'));
  writeFileSync(join(b.dir, 'new-b.txt'), 'new on B');
  mkdirSync(join(b.dir, 'folder-b'));
  await waitFor('A to upload its changes', async () => {
    const paths = (await cluster.list(2)).map((r) => r.path);
    return paths.includes(`${remote}/new-a.txt`) && !paths.includes(`${remote}/del-a.txt`);
  });
  await startSide(b, remote);
  await waitFor('both sides to match', () => same(a, b) && read(a, 'new-b.txt') === 'new on B');
  await quiet(a, b);
  assert.equal(tree(a.dir), {
    'edit-a.txt': sha256('v2 from A'), 'edit-b.txt': sha256('v2 from B'), 'folder-b/': 'folder', 'keep.txt': sha256('v1 keep.txt'),
    'new-a.txt': sha256('new on A'), 'new-b.txt': sha256('new on B'),
  });
  assert.equal(tree(b.dir), tree(a.dir));
  noErrors(a, b);
});

/** Writes `size` random bytes to `file` in 8 MiB pieces (never the whole file in memory); resolves to their sha256. */
async function writeRandomFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'w');
  try {
    for (let left = size; left > 0;) {
      const piece = randomBytes(Math.min(left, 8 * 1024 * 1024));
      hash.update(piece);
      await handle.write(piece);
      left -= piece.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Recursive listings among the requests a side's client sent. */
const listings = (side: Side) => side.requests.filter((r) => /^GET \S+\/files\/\S*[?&]recursive=true/.test(r));

sync('a restarted mirror resumes from its saved place in its node\'s change feed: no listing, and both sides converge', async () => {
  const { remote, a, b } = await pair();
  mkdirSync(join(a.dir, 'docs'));
  for (const name of ['keep.txt', 'edit.txt', 'gone.txt', 'moved.txt', 'docs/inner.txt']) writeFileSync(join(a.dir, name), `v1 ${name}`);
  await waitFor('B to get the first files', () => same(a, b) && read(b, 'docs/inner.txt') === 'v1 docs/inner.txt');
  await quiet(a, b); // a full pass each: B saves its place in node-2's feed
  await stopSide(b);
  writeFileSync(join(a.dir, 'edit.txt'), 'v2 from A');
  rmSync(join(a.dir, 'gone.txt'));
  renameSync(join(a.dir, 'moved.txt'), join(a.dir, 'docs/moved.txt'));
  writeFileSync(join(a.dir, 'new.txt'), 'new on A');
  mkdirSync(join(a.dir, 'empty'));
  rmSync(join(a.dir, 'docs/inner.txt'));
  writeFileSync(join(b.dir, 'new-b.txt'), 'new on B'); // and one change made on B while it was stopped
  await waitFor('node-2 to hold A\'s changes', async () => {
    const paths = (await cluster.list(2)).filter((r) => !r.deleted).map((r) => r.path);
    return paths.includes(`${remote}/new.txt`) && paths.includes(`${remote}/empty`) && paths.includes(`${remote}/docs/moved.txt`) &&
      !paths.includes(`${remote}/gone.txt`) && !paths.includes(`${remote}/docs/inner.txt`);
  });
  b.requests.length = 0;
  await startSide(b, remote);
  await waitFor('both sides to match', () => same(a, b) && read(a, 'new-b.txt') === 'new on B');
  await b.mirror!.idle();
  assert.equal(tree(b.dir), {
    'docs/': 'folder', 'docs/moved.txt': sha256('v1 moved.txt'), 'edit.txt': sha256('v2 from A'), 'empty/': 'folder',
    'keep.txt': sha256('v1 keep.txt'), 'new-b.txt': sha256('new on B'), 'new.txt': sha256('new on A'),
  });
  assert.equal(tree(a.dir), tree(b.dir));
  assert.equal(listings(b), [], 'B listed the remote folder');
  assert.ok(b.requests.some((r) => r.includes(`/changes?since=`)), 'B read a change feed');
  // B renamed its own copy rather than downloading it again.
  const lines = readFileSync(join(b.dir, '.nuvem-sync/change_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.type === 'moved' && l.path === 'docs/moved.txt' && l.direction === 'down'), JSON.stringify(lines));
  noErrors(a, b);
});

sync('a mirror whose saved feed position is for a node it cannot reach lists the folder instead, and converges', async () => {
  const { remote, a, b } = await pair();
  writeFileSync(join(a.dir, 'one.txt'), 'one');
  await waitFor('B to get one.txt', () => read(b, 'one.txt') === 'one');
  await quiet(a, b);
  await stopSide(b);
  const state = SyncState.open(b.dir);
  const saved = JSON.parse(state.meta('feed')!);
  assert.is(saved.node, cluster.id(2));
  state.setMeta('feed', JSON.stringify({ ...saved, node: 'node-that-is-gone' }));
  state.close();
  writeFileSync(join(a.dir, 'two.txt'), 'two');
  rmSync(join(a.dir, 'one.txt'));
  await waitFor('node-2 to hold two.txt', async () => (await cluster.get(2, `${remote}/two.txt`)).status === 200 &&
    (await cluster.get(2, `${remote}/one.txt`)).status === 404);
  b.requests.length = 0;
  await startSide(b, remote);
  await waitFor('both sides to match', () => same(a, b) && read(b, 'two.txt') === 'two' && read(b, 'one.txt') === undefined);
  assert.ok(listings(b).length > 0, 'B listed the remote folder');
  noErrors(a, b);
});

sync('a true conflict leaves both versions and exactly one conflict copy on each side', async () => {
  const { remote, a, b } = await pair();
  writeFileSync(join(a.dir, 'doc.txt'), 'base');
  await waitFor('B to get doc.txt', () => read(b, 'doc.txt') === 'base');
  await stopSide(b);
  writeFileSync(join(a.dir, 'doc.txt'), 'edited on A');
  writeFileSync(join(b.dir, 'doc.txt'), 'edited on B');
  await waitFor('A to upload its edit', async () => sha256((await cluster.get(1, `${remote}/doc.txt`)).body) === sha256('edited on A'));
  await startSide(b, remote);
  await waitFor('a conflict copy on both sides', () => conflictCopies(a).length > 0 && conflictCopies(b).length > 0);
  await quiet(a, b);
  for (const side of [a, b]) {
    const copies = conflictCopies(side);
    assert.is(copies.length, 1, `${side.name} has ${copies.join(', ')}`);
    assert.match(copies[0], /^doc \(conflict B \d{4}-\d{2}-\d{2} \d{6}\)\.txt$/);
    assert.is(read(side, copies[0]), 'edited on B');
    assert.is(read(side, 'doc.txt'), 'edited on A');
  }
  const remoteCopies = (await cluster.list(3)).filter((r) => r.path.startsWith(`${remote}/`) && r.path.includes('(conflict '));
  assert.is(remoteCopies.length, 1);
  noErrors(a, b);
});

sync('the same file edited on both sides at once ends with one conflict copy, not more', async () => {
  const { a, b } = await pair();
  writeFileSync(join(a.dir, 'race.txt'), 'base');
  await waitFor('B to get race.txt', () => read(b, 'race.txt') === 'base');
  await quiet(a, b);
  writeFileSync(join(a.dir, 'race.txt'), 'A wins?');
  writeFileSync(join(b.dir, 'race.txt'), 'B wins?');
  await waitFor('one conflict copy on both sides, the same on both', () =>
    conflictCopies(a).length === 1 && same(a, b) && read(a, 'race.txt') !== 'base');
  await quiet(a, b);
  assert.equal(tree(a.dir), tree(b.dir));
  const copies = conflictCopies(a);
  assert.is(copies.length, 1, copies.join(', '));
  assert.equal([read(a, 'race.txt'), read(a, copies[0])].sort(), ['A wins?', 'B wins?']);
  noErrors(a, b);
});

sync('a delete on one side and an edit on the other keep the edit, whichever side deleted', async () => {
  const { remote, a, b } = await pair();
  writeFileSync(join(a.dir, 'x.txt'), 'x1');
  writeFileSync(join(a.dir, 'y.txt'), 'y1');
  await waitFor('B to get x and y', () => read(b, 'x.txt') === 'x1' && read(b, 'y.txt') === 'y1');
  await stopSide(b);
  rmSync(join(a.dir, 'x.txt')); // deleted on A, edited on B
  writeFileSync(join(b.dir, 'x.txt'), 'x2 from B');
  writeFileSync(join(a.dir, 'y.txt'), 'y2 from A'); // edited on A, deleted on B
  rmSync(join(b.dir, 'y.txt'));
  await waitFor('A to upload', async () => (await cluster.get(2, `${remote}/x.txt`)).status === 404 &&
    sha256((await cluster.get(2, `${remote}/y.txt`)).body) === sha256('y2 from A'));
  await startSide(b, remote);
  await waitFor('both edits on both sides', () => read(a, 'x.txt') === 'x2 from B' && read(b, 'y.txt') === 'y2 from A');
  await quiet(a, b);
  assert.equal(tree(a.dir), { 'x.txt': sha256('x2 from B'), 'y.txt': sha256('y2 from A') });
  assert.equal(tree(b.dir), tree(a.dir));
  noErrors(a, b);
});

sync('a 200 MiB file moved into another folder is not uploaded again (bytes received by the nodes)', async () => {
  const { a, b } = await pair();
  const want = await writeRandomFile(join(a.dir, 'big.bin'), 200 * 1024 * 1024);
  await waitFor('B to get big.bin', async () => existsSync(join(b.dir, 'big.bin')) && statSync(join(b.dir, 'big.bin')).size === 200 * 1024 * 1024 &&
    (await sha256File(join(b.dir, 'big.bin'))) === want, 120_000);
  await quiet(a, b);
  const bytesBefore = await metricSum('nuvem_bytes_received_total');
  const putsBefore = await metricSum('nuvem_http_requests_total', { method: 'PUT' });
  mkdirSync(join(a.dir, 'archive'));
  renameSync(join(a.dir, 'big.bin'), join(a.dir, 'archive/big.bin'));
  await waitFor('B to see the move', () => existsSync(join(b.dir, 'archive/big.bin')) && !existsSync(join(b.dir, 'big.bin')), 30_000);
  await quiet(a, b);
  assert.is(await sha256File(join(b.dir, 'archive/big.bin')), want);
  const received = (await metricSum('nuvem_bytes_received_total')) - bytesBefore;
  const puts = (await metricSum('nuvem_http_requests_total', { method: 'PUT' })) - putsBefore;
  assert.ok(received < 1024 * 1024, `the nodes received ${received} bytes of uploads for the move`);
  assert.is(puts, 0, 'PUT requests during the move');
  // B renamed its own copy rather than downloading it again.
  const lines = readFileSync(join(b.dir, '.nuvem-sync/change_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.type === 'moved' && l.path === 'archive/big.bin' && l.direction === 'down'), JSON.stringify(lines));
  noErrors(a, b);
});

sync('killing the node a mirror uses (kill -9) does not stop it', async () => {
  const { a, b } = await pair();
  writeFileSync(join(a.dir, 'before.txt'), 'before');
  await waitFor('B to get before.txt', () => read(b, 'before.txt') === 'before');
  await cluster.kill(1); // A's node
  try {
    writeFileSync(join(a.dir, 'after.txt'), 'after the kill');
    await waitFor('B to get after.txt', () => read(b, 'after.txt') === 'after the kill', 20_000);
    writeFileSync(join(b.dir, 'reply.txt'), 'reply');
    await waitFor('A to get reply.txt', () => read(a, 'reply.txt') === 'reply', 20_000);
    noErrors(a, b);
  } finally {
    await cluster.restart(1);
    await cluster.waitMesh({ timeoutMs: 20_000 });
  }
});

sync('a broker restart loses no change: the mirror lists the folder again when it is back', async () => {
  const { remote, a, b } = await pair();
  await cluster.stopBroker();
  try {
    writeFileSync(join(a.dir, 'while-down.txt'), 'broker was down');
    // Without the broker the nodes replicate through catch-up and anti-entropy only: any node will do.
    await waitFor('A to upload while-down.txt', async () => {
      for (const k of cluster.live()) if ((await cluster.get(k, `${remote}/while-down.txt`)).status === 200) return true;
      return false;
    }, 20_000);
  } finally {
    await cluster.startBroker();
  }
  await waitFor('B to get while-down.txt', () => read(b, 'while-down.txt') === 'broker was down', 20_000);
  writeFileSync(join(b.dir, 'after.txt'), 'after');
  await waitFor('A to get after.txt', () => read(a, 'after.txt') === 'after', 20_000);
  noErrors(a, b);
  await cluster.waitMesh({ timeoutMs: 20_000 });
});

sync.run();
