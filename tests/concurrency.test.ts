/**
 * Concurrent writes to one path on a real node: last writer wins, nothing
 * torn, the replaced versions kept as revisions (the newest 10) whose bytes
 * match their records.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';
import { rawRequest } from './_support/http.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const WRITERS = 50;
const SIZE = 64 * 1024;

let dir: TempDir;
let node: NodeProcess;

const concurrent = suite('concurrent PUTs to one path');

concurrent.before(async () => {
  dir = tempDir('concurrency');
  node = await startNodeProcess({ dataDir: dir.path });
});

concurrent.after(async () => {
  await node?.stop();
  dir?.cleanup();
});

concurrent(`${WRITERS} concurrent PUTs of distinct 64 KiB bodies: one wins whole, 10 revisions kept intact`, async () => {
  const bodies = Array.from({ length: WRITERS }, (_, i) => randomBytesFrom(1000 + i, SIZE));
  const shas = bodies.map((b) => sha256(b));
  assert.is(new Set(shas).size, WRITERS, 'the bodies differ');

  const answers = await Promise.all(
    bodies.map((body) => rawRequest(node.url, { method: 'PUT', target: '/files/shared/hot.bin', body })),
  );
  for (const [i, a] of answers.entries()) {
    assert.ok(a.status === 200 || a.status === 201, `writer ${i}: ${a.status} ${a.body.toString().slice(0, 200)}`);
    assert.is(a.json.sha256, shas[i], `writer ${i}: the record names its body`);
    assert.is(a.json.size, SIZE);
  }
  assert.is(answers.filter((a) => a.status === 201).length, 1, 'exactly one created the file');
  const versions = answers.map((a) => a.json.version as string);
  assert.is(new Set(versions).size, WRITERS, 'every write got its own version');

  // Last writer wins: the current version is the highest one answered, with that writer's bytes.
  const order = answers.map((_, i) => ({ version: versions[i], sha: shas[i], i })).sort((a, b) => (a.version < b.version ? 1 : -1));
  const get = await rawRequest(node.url, { target: '/files/shared/hot.bin' });
  assert.is(get.status, 200);
  assert.is(get.body.length, SIZE);
  const finalSha = sha256(get.body);
  assert.ok(shas.includes(finalSha), 'the bytes are exactly one of the uploads');
  assert.is(finalSha, order[0].sha, 'the newest version wins');
  assert.is(get.headers.etag, `"${order[0].version}"`);

  const { json } = await rawRequest(node.url, { target: '/revisions/shared/hot.bin' });
  const kept = json.revisions as { version: string; sha256: string; size: number }[];
  assert.is(kept.length, 10);
  assert.equal(kept.map((r) => r.version), order.slice(1, 11).map((o) => o.version), 'the 10 versions before the current, newest first');
  for (const r of kept) {
    const old = await rawRequest(node.url, { target: `/files/shared/hot.bin?version=${encodeURIComponent(r.version)}` });
    assert.is(old.status, 200, r.version);
    assert.is(sha256(old.body), r.sha256, `revision ${r.version}: bytes match the record`);
    assert.is(r.sha256, order.find((o) => o.version === r.version)!.sha, `revision ${r.version}: the body that writer sent`);
  }

  const changes = (await rawRequest(node.url, { target: '/changes' })).json.changes as { path: string; seq: number }[];
  assert.is(changes.filter((c) => c.path === 'shared/hot.bin').length, WRITERS, 'one change per write');
  assert.is(new Set(changes.map((c) => c.seq)).size, changes.length);

  const revFiles = readdirSync(join(dir.path, '.nuvem', 'revs'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  // 64 KiB bodies are small files: their revisions keep their bytes in the index
  // (DESIGN.md section 3; pruning them from it: http_revisions.test.ts).
  assert.is(revFiles.length, 0, 'no revision file on disk');
  assert.equal(readdirSync(join(dir.path, '.nuvem', 'tmp')), []);
});

concurrent('concurrent If-None-Match: * creates: exactly one succeeds, the rest are 412', async () => {
  const bodies = Array.from({ length: 20 }, (_, i) => randomBytesFrom(2000 + i, 4096));
  const answers = await Promise.all(
    bodies.map((body) => rawRequest(node.url, { method: 'PUT', target: '/files/shared/once.bin', headers: { 'if-none-match': '*' }, body })),
  );
  const winners = answers.filter((a) => a.status === 201);
  assert.is(winners.length, 1, `statuses: ${answers.map((a) => a.status).join(' ')}`);
  for (const a of answers) if (a.status !== 201) assert.is(a.json.error, 'precondition_failed');
  const get = await rawRequest(node.url, { target: '/files/shared/once.bin' });
  assert.is(sha256(get.body), winners[0].json.sha256);
  const { json } = await rawRequest(node.url, { target: '/revisions/shared/once.bin' });
  assert.equal(json.revisions, []);
});

concurrent('concurrent If-Match on the same version: exactly one replaces it (compare-and-swap)', async () => {
  const base = await rawRequest(node.url, { method: 'PUT', target: '/files/shared/cas.bin', body: 'base' });
  const ifMatch = `"${base.json.version}"`;
  const bodies = Array.from({ length: 20 }, (_, i) => randomBytesFrom(3000 + i, 4096));
  const answers = await Promise.all(
    bodies.map((body) => rawRequest(node.url, { method: 'PUT', target: '/files/shared/cas.bin', headers: { 'if-match': ifMatch }, body })),
  );
  const winners = answers.filter((a) => a.status === 200);
  assert.is(winners.length, 1, `statuses: ${answers.map((a) => a.status).join(' ')}`);
  for (const a of answers) if (a.status !== 200) assert.is(a.json.error, 'precondition_failed');
  const get = await rawRequest(node.url, { target: '/files/shared/cas.bin' });
  assert.is(sha256(get.body), winners[0].json.sha256);
  const { json } = await rawRequest(node.url, { target: '/revisions/shared/cas.bin' });
  assert.equal(json.revisions.map((r: any) => r.version), [base.json.version]);
});

concurrent.run();
