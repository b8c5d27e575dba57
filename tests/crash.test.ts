/**
 * Crash safety (DESIGN.md 7.1) with a real child-process node: `kill -9` at a
 * random moment of a replacing upload, restart on the same data folder, and
 * the path serves the old or the new version whole (the new one if the upload
 * was answered 2xx), no temp file is left, and the index agrees with the files
 * folder. Also: edits made in DATA/files/ while the node is down become versions.
 *
 * The moments are drawn from a seeded PRNG: `SEED=… npm test -- crash` replays a run.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prng, randomBytesFrom, sha256, sha256File } from './_support/bytes.ts';
import { rawRequest } from './_support/http.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';
import { sleep } from './_support/sleep.ts';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const CHUNK = MiB;
const ROUNDS = 20;
const SEED = Number(process.env.SEED ?? 20261123);
const PATH = 'crash/big.bin';

/** Body number `n`, generated one chunk at a time: every chunk differs by body and position. */
function* chunksOf(base: Buffer, n: number): Generator<Buffer> {
  for (let i = 0; i < SIZE / CHUNK; i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32LE(n, 0);
    chunk.writeUInt32LE(i, 4);
    chunk.writeUInt32LE(SEED >>> 0, 8);
    yield chunk;
  }
}

function shaOfBody(base: Buffer, n: number): string {
  const hash = createHash('sha256');
  for (const c of chunksOf(base, n)) hash.update(c);
  return hash.digest('hex');
}

/** Resolves when `req` can take more, or has failed or closed. */
function drained(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('error', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('error', done);
    req.on('close', done);
  });
}

type Plan =
  | { kind: 'midway'; atBytes: number }
  | { kind: 'after-send'; delayMs: number }
  | { kind: 'after-2xx'; delayMs: number };

function describe(plan: Plan): string {
  return plan.kind === 'midway' ? `midway at ${(plan.atBytes / MiB).toFixed(1)} MiB` : `${plan.kind} + ${plan.delayMs.toFixed(0)} ms`;
}

/** Streams body `n` as a replacing PUT and kills the node as `plan` says; tells whether a 2xx came first. */
async function uploadAndKill(node: NodeProcess, base: Buffer, n: number, plan: Plan): Promise<{ acked: boolean }> {
  const { hostname, port } = new URL(node.url);
  const req = request({
    host: hostname, port: Number(port), method: 'PUT', path: `/files/${PATH}`, agent: false,
    headers: { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' },
  });
  let acked = false;
  let failed = false;
  const answered = new Promise<void>((resolve) => {
    req.on('response', (res) => {
      if (res.statusCode! >= 200 && res.statusCode! < 300) acked = true;
      res.resume();
      res.on('end', resolve);
      res.on('error', () => resolve());
      res.on('close', resolve);
    });
    req.on('error', () => {
      failed = true;
      resolve();
    });
  });
  let written = 0;
  let killed = false;
  for (const chunk of chunksOf(base, n)) {
    if (plan.kind === 'midway' && written + chunk.length > plan.atBytes) {
      const part = plan.atBytes - written;
      if (part > 0) req.write(chunk.subarray(0, part));
      await sleep(5);
      await node.kill();
      killed = true;
      break;
    }
    if (failed) break;
    written += chunk.length;
    if (!req.write(chunk)) await drained(req);
  }
  if (!killed) {
    req.end();
    if (plan.kind === 'after-2xx') await answered;
    await sleep(plan.kind === 'midway' ? 0 : plan.delayMs);
    await node.kill();
  }
  await Promise.race([answered, sleep(2000)]);
  req.destroy();
  return { acked };
}

async function recordOf(node: NodeProcess): Promise<any> {
  const { json } = await rawRequest(node.url, { target: '/files/crash/' });
  return json.entries.find((e: any) => e.path === PATH);
}

async function getSha(node: NodeProcess, target: string): Promise<{ status: number; sha: string; size: number; etag?: string }> {
  const { hostname, port } = new URL(node.url);
  return new Promise((resolve, reject) => {
    request({ host: hostname, port: Number(port), path: target, agent: false }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      res.on('end', () => resolve({ status: res.statusCode!, sha: hash.digest('hex'), size, etag: res.headers.etag }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

// --- kill -9 during replacing uploads

const crash = suite('kill -9 during uploads');
let dir: TempDir;
let node: NodeProcess;

crash.before(() => {
  dir = tempDir('crash');
});

crash.after(async () => {
  await node?.kill();
  dir?.cleanup();
});

crash(`${ROUNDS} rounds of kill -9 during a 32 MiB replacing upload: old or new version, whole`, async () => {
  console.log(`  crash test seed: ${SEED} (replay with SEED=${SEED} npm test -- crash)`);
  const rng = prng(SEED);
  const base = randomBytesFrom(SEED, CHUNK);
  const shaOf = new Map<string, number>();

  node = await startNodeProcess({ dataDir: dir.path });
  const first = await new Promise<number>((resolve, reject) => {
    const { hostname, port } = new URL(node.url);
    const req = request({ host: hostname, port: Number(port), method: 'PUT', path: `/files/${PATH}`, agent: false,
      headers: { 'content-length': String(SIZE) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    (async () => {
      for (const c of chunksOf(base, 0)) if (!req.write(c)) await drained(req);
      req.end();
    })();
  });
  assert.is(first, 201);
  let old = shaOfBody(base, 0);
  shaOf.set(old, 0);

  let acks = 0;
  let newWins = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const fresh = shaOfBody(base, round);
    shaOf.set(fresh, round);
    const r = rng();
    const plan: Plan = round % 5 === 0
      ? { kind: 'after-2xx', delayMs: r * 20 }
      : round % 5 === 4
        ? { kind: 'after-send', delayMs: r * 60 }
        : { kind: 'midway', atBytes: Math.floor(r * SIZE) };
    const { acked } = await uploadAndKill(node, base, round, plan);
    const label = `round ${round} (${describe(plan)}, ${acked ? 'answered 2xx' : 'not answered'})`;
    if (acked) acks++;

    node = await startNodeProcess({ dataDir: dir.path });
    assert.equal(readdirSync(join(dir.path, '.nuvem', 'tmp')), [], `${label}: no temp file after restart`);

    const got = await getSha(node, `/files/${PATH}`);
    assert.is(got.status, 200, label);
    assert.is(got.size, SIZE, `${label}: whole size`);
    assert.ok(got.sha === old || got.sha === fresh,
      `${label}: serves body ${shaOf.get(got.sha) ?? 'unknown (torn)'}, expected ${shaOf.get(old)} (old) or ${round} (new)`);
    if (acked) assert.is(got.sha, fresh, `${label}: a 2xx upload survives kill -9`);
    if (got.sha === fresh) newWins++;

    const record = await recordOf(node);
    assert.ok(record, `${label}: listed`);
    const onDisk = join(dir.path, 'files', PATH);
    assert.is(record.size, statSync(onDisk).size, `${label}: index size = file size`);
    assert.is(record.sha256, await sha256File(onDisk), `${label}: index sha256 = file hashed directly`);
    assert.is(record.sha256, got.sha, `${label}: index sha256 = bytes served`);
    assert.is(got.etag, `"${record.version}"`);
    assert.equal(readdirSync(join(dir.path, 'files'), { recursive: true }).sort(), ['.nuvem', 'crash', PATH], `${label}: no stray files`);

    const { json } = await rawRequest(node.url, { target: `/revisions/${PATH}` });
    if (got.sha === fresh && round > 1) {
      const newest = json.revisions[0];
      assert.ok(newest, `${label}: the replaced version is kept`);
      assert.is(newest.sha256, old, `${label}: the newest revision is the replaced version`);
      const kept = await getSha(node, `/files/${PATH}?version=${encodeURIComponent(newest.version)}`);
      assert.is(kept.sha, newest.sha256, `${label}: the kept revision's bytes match its record`);
    }
    old = got.sha;
  }
  const { json } = await rawRequest(node.url, { target: `/revisions/${PATH}` });
  const listed = new Set(json.revisions.map((r: any) => `${r.sha256}-${r.version}`));
  const revs = readdirSync(join(dir.path, '.nuvem', 'revs'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  const orphans = revs.filter((d) => !listed.has(d.name)).length;
  console.log(`  ${ROUNDS} rounds: ${acks} answered 2xx before the kill, the new version survived ${newWins} times; ` +
    `${listed.size} revisions listed, ${orphans} kept revision files no record points to`);
  for (const r of json.revisions) {
    const head = await rawRequest(node.url, { method: 'HEAD', target: `/files/${PATH}?version=${encodeURIComponent(r.version)}` });
    assert.is(head.status, 200, `revision ${r.version} has its content`);
    assert.is(head.headers['content-length'], String(r.size));
  }
  assert.ok(acks >= 4, `some kills land after the 2xx (${acks})`);
  assert.ok(newWins - acks >= 0 && ROUNDS - newWins >= 1, 'some kills land before the commit');
});

crash.run();

// ---

const offline = suite('edits to DATA/files/ while the node is stopped');
let odir: TempDir;
let onode: NodeProcess;

offline.before(() => {
  odir = tempDir('offline-edit');
});

offline.after(async () => {
  await onode?.stop();
  odir?.cleanup();
});

offline('an edited file becomes a new version, a deleted one a tombstone, a new one a file, a touched one nothing', async () => {
  onode = await startNodeProcess({ dataDir: odir.path });
  const put = async (path: string, body: string) => {
    const res = await rawRequest(onode.url, { method: 'PUT', target: `/files/${path}`, body, headers: { 'content-type': 'text/plain' } });
    assert.ok(res.status === 200 || res.status === 201, `${path}: ${res.status}`);
    return res.json;
  };
  const v1 = await put('docs/edit.txt', 'first version');
  const v2 = await put('docs/edit.txt', 'second version');
  const gone = await put('docs/gone.txt', 'to be deleted by hand');
  const same = await put('docs/same.txt', 'unchanged content');
  const { cursor } = (await rawRequest(onode.url, { target: '/changes' })).json;
  await onode.stop();

  const files = join(odir.path, 'files');
  writeFileSync(join(files, 'docs/edit.txt'), 'edited by hand while the node was down');
  rmSync(join(files, 'docs/gone.txt'));
  writeFileSync(join(files, 'docs/new.txt'), 'made by hand');
  const later = new Date(Date.now() + 5000);
  utimesSync(join(files, 'docs/same.txt'), later, later);

  onode = await startNodeProcess({ dataDir: odir.path });
  const edited = await rawRequest(onode.url, { target: '/files/docs/edit.txt' });
  assert.is(edited.status, 200);
  assert.is(edited.body.toString(), 'edited by hand while the node was down');
  const version = String(edited.headers.etag).slice(1, -1);
  assert.ok(version > v2.version, `new version ${version} after ${v2.version}`);
  assert.is(edited.headers['content-type'], 'text/plain', 'the content type is kept');
  const listed = (await rawRequest(onode.url, { target: '/files/docs/' })).json.entries;
  const record = listed.find((e: any) => e.path === 'docs/edit.txt');
  assert.is(record.sha256, sha256('edited by hand while the node was down'));
  assert.is(record.size, Buffer.byteLength('edited by hand while the node was down'));

  // v1 was kept when v2 replaced it; v2's bytes were overwritten in place, so a
  // revision of it can only be listed if its bytes really are kept.
  const revisions = (await rawRequest(onode.url, { target: '/revisions/docs/edit.txt' })).json.revisions;
  assert.ok(revisions.some((r: any) => r.version === v1.version), 'the earlier revision is still kept');
  for (const r of revisions) {
    const kept = await rawRequest(onode.url, { target: `/files/docs/edit.txt?version=${encodeURIComponent(r.version)}` });
    assert.is(kept.status, 200, `revision ${r.version} is readable`);
    assert.is(sha256(kept.body), r.sha256, `revision ${r.version}: bytes match its record`);
  }

  const deleted = await rawRequest(onode.url, { target: '/files/docs/gone.txt' });
  assert.is(deleted.status, 404);
  assert.is(deleted.json.error, 'not_found');

  const made = await rawRequest(onode.url, { target: '/files/docs/new.txt' });
  assert.is(made.status, 200);
  assert.is(made.body.toString(), 'made by hand');

  const touched = await rawRequest(onode.url, { target: '/files/docs/same.txt' });
  assert.is(touched.headers.etag, `"${same.version}"`, 'same content after a touch: no new version');

  const changes = (await rawRequest(onode.url, { target: `/changes?since=${cursor}` })).json.changes;
  const summary = changes.map((c: any) => `${c.op} ${c.path}`).sort();
  assert.equal(summary, ['delete docs/gone.txt', 'put docs/edit.txt', 'put docs/new.txt']);
  const tomb = changes.find((c: any) => c.path === 'docs/gone.txt');
  assert.is(tomb.deleted, true);
  assert.ok(tomb.version > gone.version);

  // A second restart finds nothing new: recovery does not repeat itself.
  await onode.stop();
  onode = await startNodeProcess({ dataDir: odir.path });
  const again = (await rawRequest(onode.url, { target: `/changes?since=${cursor}` })).json.changes;
  assert.is(again.length, changes.length, 'no further changes after a clean restart');
  await onode.stop();
});

offline('an explicit folder emptied by DELETE or MOVE of its last file survives a restart', async () => {
  onode = await startNodeProcess({ dataDir: odir.path });
  const call = (method: string, target: string, headers?: Record<string, string>, body?: string) =>
    rawRequest(onode.url, { method, target, headers, body });
  const folders = ['kept-by-delete', 'kept-by-move'];
  for (const folder of folders) assert.is((await call('MKCOL', `/files/${folder}`)).status, 201);
  assert.is((await call('PUT', '/files/kept-by-delete/x.txt', {}, 'x')).status, 201);
  assert.is((await call('PUT', '/files/kept-by-move/y.txt', {}, 'y')).status, 201);
  assert.is((await call('DELETE', '/files/kept-by-delete/x.txt')).status, 204);
  assert.is((await call('MOVE', '/files/kept-by-move/y.txt', { destination: '/files/y.txt' })).status, 201);
  const listed = async () =>
    (await call('GET', '/files/')).json.entries.map((e: any) => e.path).filter((p: string) => p.startsWith('kept-'));
  assert.equal(await listed(), folders);

  await onode.stop();
  onode = await startNodeProcess({ dataDir: odir.path });
  assert.equal(await listed(), folders, 'the folders are still there after a restart');
  for (const folder of folders) {
    const res = await call('GET', `/files/${folder}/`);
    assert.is(res.status, 200, `${folder}: ${res.body}`);
    assert.equal(res.json.entries, []);
  }
  await onode.stop();
});

offline.run();
