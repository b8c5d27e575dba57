/**
 * Safe with bad input (DESIGN.md 7.5), against a real node process on port 0:
 * every refused request gets a clear JSON 4xx, stores nothing and leaves the
 * node serving. Targets go out verbatim over `node:http` or a raw socket,
 * since fetch and `new URL` remove `.`/`..` segments.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { contentDigest, randomBytesFrom, sha256 } from './_support/bytes.ts';
import { rawRequest, type RawResponse } from './_support/http.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';
import { sleep } from './_support/sleep.ts';

const MiB = 1024 * 1024;

let dir: TempDir;
let node: NodeProcess;
const existing = randomBytesFrom(7, MiB);
let existingVersion = '';

const req = (method: string, target: string, headers?: Record<string, string>, body?: Uint8Array | string) =>
  rawRequest(node.url, { method, target, headers, body });

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.unreachable(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** Every file and folder under DATA/files, with sizes. */
function filesTree(): string[] {
  const root = join(dir.path, 'files');
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .map((d) => {
      const rel = join(d.parentPath ?? (d as any).path, d.name).slice(root.length + 1);
      return d.isFile() ? `${rel} ${statSync(join(root, rel)).size}` : `${rel}/`;
    })
    .sort();
}

const tmpFiles = () => readdirSync(join(dir.path, '.nuvem', 'tmp'));

interface Snapshot {
  listing: unknown;
  cursor: string;
  tree: string[];
}

async function snapshot(): Promise<Snapshot> {
  const listing = await req('GET', '/files/?recursive=true');
  assert.is(listing.status, 200);
  const changes = await req('GET', '/changes');
  return { listing: listing.json, cursor: changes.json.cursor, tree: filesTree() };
}

/** Nothing stored: same listing, no new change, same files on disk, no temp file. */
async function assertUnchanged(before: Snapshot, label: string): Promise<void> {
  const after = await req('GET', '/files/?recursive=true');
  assert.equal(after.json, before.listing, `${label}: listing unchanged`);
  const changes = await req('GET', `/changes?since=${before.cursor}`);
  assert.equal(changes.json.changes, [], `${label}: no change in /changes`);
  assert.equal(filesTree(), before.tree, `${label}: files folder unchanged`);
  assert.equal(tmpFiles(), [], `${label}: no temp file left`);
}

let okCount = 0;
/** The node still serves: a normal PUT then GET round-trips. */
async function assertServing(label: string): Promise<void> {
  const body = `still serving after ${label}`;
  const path = `ok/${okCount++}.txt`;
  const put = await req('PUT', `/files/${path}`, { 'content-type': 'text/plain' }, body);
  assert.is(put.status, 201, `${label}: PUT after it: ${put.body}`);
  const get = await req('GET', `/files/${path}`);
  assert.is(get.status, 200);
  assert.is(get.body.toString(), body);
}

async function assertExistingIntact(label: string): Promise<void> {
  const old = await req('GET', '/files/keep/existing.bin');
  assert.is(sha256(old.body), sha256(existing), `${label}: existing file intact`);
  assert.is(old.headers.etag, `"${existingVersion}"`);
}

function assertJsonError(res: RawResponse, status: number, code: string, label: string): void {
  assert.is(res.status, status, `${label}: status (body ${res.body.toString().slice(0, 200)})`);
  assert.match(String(res.headers['content-type']), /application\/json/, `${label}: JSON content type`);
  assert.ok(res.json, `${label}: a JSON body`);
  assert.is(res.json.error, code, `${label}: error code`);
  assert.type(res.json.message, 'string', `${label}: message`);
  assert.ok(res.json.message.length > 0);
}

// --- the table

interface Case {
  name: string;
  method: string;
  target: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  status: number;
  error: string;
}

const seg = (n: number, ch = 'a') => ch.repeat(n);
/** A path of exactly `bytes` bytes, in segments of at most 201. */
function pathOf(bytes: number): string {
  const parts: string[] = [];
  let used = 0;
  for (; bytes - used > 201; used += 201) parts.push(seg(200));
  parts.push(seg(bytes - used));
  return parts.join('/');
}

const CASES = (): Case[] => [
  { name: '".." inside', method: 'PUT', target: '/files/a/../b', body: 'x', status: 400, error: 'invalid_path' },
  { name: '".." first', method: 'PUT', target: '/files/../b', body: 'x', status: 400, error: 'invalid_path' },
  { name: '".." last', method: 'PUT', target: '/files/a/..', body: 'x', status: 400, error: 'invalid_path' },
  { name: '"%2e%2e"', method: 'PUT', target: '/files/%2e%2e/b', body: 'x', status: 400, error: 'invalid_path' },
  { name: '".." escaping /files/ to another route', method: 'GET', target: '/files/../status', status: 400, error: 'invalid_path' },
  { name: '".." on DELETE', method: 'DELETE', target: '/files/keep/../keep/existing.bin', status: 400, error: 'invalid_path' },
  { name: '"." first', method: 'PUT', target: '/files/./a', body: 'x', status: 400, error: 'invalid_path' },
  { name: '"." inside', method: 'PUT', target: '/files/a/./b', body: 'x', status: 400, error: 'invalid_path' },
  { name: '"%2E"', method: 'PUT', target: '/files/%2E/a', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'empty segment', method: 'PUT', target: '/files/a//b', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'leading slash', method: 'PUT', target: '/files//a', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'NUL', method: 'PUT', target: '/files/a%00b', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'control %01', method: 'PUT', target: '/files/a%01b', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'control %0a', method: 'PUT', target: '/files/a%0Ab', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'DEL %7f', method: 'PUT', target: '/files/a%7fb', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'backslash %5c', method: 'PUT', target: '/files/a%5cb', body: 'x', status: 400, error: 'invalid_path' },
  { name: '".nuvem" first', method: 'PUT', target: '/files/.nuvem/tmp/x', body: 'x', status: 400, error: 'invalid_path' },
  { name: '".nuvem" last', method: 'PUT', target: '/files/a/.nuvem', body: 'x', status: 400, error: 'invalid_path' },
  { name: '".NUVEM"', method: 'MKCOL', target: '/files/.NUVEM', status: 400, error: 'invalid_path' },
  { name: '1025-byte path', method: 'PUT', target: `/files/${pathOf(1025)}`, body: 'x', status: 400, error: 'invalid_path' },
  { name: '256-byte segment', method: 'PUT', target: `/files/${seg(256)}`, body: 'x', status: 400, error: 'invalid_path' },
  { name: '256-byte segment of 2-byte letters', method: 'PUT', target: `/files/${encodeURIComponent(seg(128, 'é'))}`, body: 'x', status: 400, error: 'invalid_path' },
  { name: '%zz', method: 'PUT', target: '/files/a%zz', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'truncated %4', method: 'GET', target: '/files/a%4', status: 400, error: 'invalid_path' },
  { name: 'invalid UTF-8 %ff', method: 'PUT', target: '/files/a%ff', body: 'x', status: 400, error: 'invalid_path' },
  { name: 'bad path in Destination', method: 'MOVE', target: '/files/keep/existing.bin', headers: { destination: '/files/a/../b' }, status: 400, error: 'invalid_path' },
  { name: 'Destination outside /files/', method: 'MOVE', target: '/files/keep/existing.bin', headers: { destination: '/status' }, status: 400, error: 'bad_request' },
  { name: 'MOVE without Destination', method: 'MOVE', target: '/files/keep/existing.bin', status: 400, error: 'bad_request' },
  { name: 'Overwrite: maybe', method: 'MOVE', target: '/files/keep/existing.bin', headers: { destination: '/files/x', overwrite: 'maybe' }, status: 400, error: 'bad_request' },
  { name: 'wrong Content-Digest', method: 'PUT', target: '/files/keep/existing.bin', headers: { 'content-digest': contentDigest(sha256('other')) }, body: 'not other', status: 400, error: 'bad_digest' },
  { name: 'wrong Content-Digest, new path', method: 'PUT', target: '/files/new.bin', headers: { 'content-digest': contentDigest(sha256('other')) }, body: 'not other', status: 400, error: 'bad_digest' },
  { name: 'malformed Content-Digest', method: 'PUT', target: '/files/new.bin', headers: { 'content-digest': 'sha-256=abc' }, body: 'x', status: 400, error: 'bad_request' },
  { name: 'If-Match mismatch', method: 'PUT', target: '/files/keep/existing.bin', headers: { 'if-match': '"000000000001-0000-nobody"' }, body: 'x', status: 412, error: 'precondition_failed' },
  { name: 'If-Match unquoted', method: 'PUT', target: '/files/keep/existing.bin', headers: { 'if-match': 'v1' }, body: 'x', status: 400, error: 'bad_request' },
  { name: 'If-None-Match: * on an existing file', method: 'PUT', target: '/files/keep/existing.bin', headers: { 'if-none-match': '*' }, body: 'x', status: 412, error: 'precondition_failed' },
  { name: 'If-Match mismatch on DELETE', method: 'DELETE', target: '/files/keep/existing.bin', headers: { 'if-match': '"000000000001-0000-nobody"' }, status: 412, error: 'precondition_failed' },
  { name: 'bad write concern', method: 'PUT', target: '/files/new.bin?w=lots', body: 'x', status: 400, error: 'bad_request' },
  { name: 'Range past the end', method: 'GET', target: '/files/keep/existing.bin', headers: { range: `bytes=${MiB}-` }, status: 416, error: 'range_not_satisfiable' },
  { name: 'folder DELETE without recursive', method: 'DELETE', target: '/files/keep', status: 409, error: 'conflict' },
  { name: 'file over a folder', method: 'PUT', target: '/files/keep', body: 'x', status: 409, error: 'conflict' },
  { name: 'MKCOL with a body', method: 'MKCOL', target: '/files/newdir', headers: { 'content-length': '3' }, body: 'abc', status: 400, error: 'bad_request' },
  { name: 'bad listing cursor', method: 'GET', target: '/files/?cursor=%%%', status: 400, error: 'bad_request' },
  { name: 'bad changes cursor', method: 'GET', target: '/changes?since=-1', status: 400, error: 'bad_request' },
  { name: 'unknown method PATCH', method: 'PATCH', target: '/files/keep/existing.bin', body: 'x', status: 405, error: 'method_not_allowed' },
  { name: 'unknown method PROPFIND', method: 'PROPFIND', target: '/files/keep/existing.bin', status: 405, error: 'method_not_allowed' },
  { name: 'unknown route', method: 'POST', target: '/upload', body: 'x', status: 404, error: 'not_found' },
];

const bad = suite('bad input on a real node');

bad.before(async () => {
  dir = tempDir('bad-input');
  node = await startNodeProcess({ dataDir: dir.path });
  const put = await req('PUT', '/files/keep/existing.bin', {}, existing);
  assert.is(put.status, 201);
  existingVersion = put.json.version;
});

bad.after(async () => {
  await node?.stop();
  dir?.cleanup();
});

bad('the path helper builds exact lengths', () => {
  assert.is(Buffer.byteLength(pathOf(1025)), 1025);
  assert.is(Buffer.byteLength(pathOf(1024)), 1024);
  assert.ok(pathOf(1025).split('/').every((s) => s.length > 0 && s.length <= 255));
  assert.ok(pathOf(1024).split('/').length > 1);
});

bad('every bad input gets a JSON 4xx with its code, stores nothing, and the node keeps serving', async () => {
  for (const c of CASES()) {
    const before = await snapshot();
    const res = await req(c.method, c.target, c.headers, c.body);
    assertJsonError(res, c.status, c.error, c.name);
    if (c.status === 405) assert.ok(String(res.headers.allow ?? '').includes('PUT'), `${c.name}: Allow`);
    if (c.status === 416) assert.is(res.headers['content-range'], `bytes */${MiB}`);
    await assertUnchanged(before, c.name);
    await assertExistingIntact(c.name);
    await assertServing(c.name);
  }
});

bad('the limits themselves are accepted: a 1024-byte path and a 255-byte segment', async () => {
  for (const path of [pathOf(1024), seg(255), encodeURIComponent(seg(127, 'é')) + 'a']) {
    const put = await req('PUT', `/files/${path}`, {}, 'edge');
    assert.is(put.status, 201, `${path.length}: ${put.body}`);
    const get = await req('GET', `/files/${path}`);
    assert.is(get.body.toString(), 'edge');
  }
});

bad('a raw backslash in the request target is refused with a JSON error too', async () => {
  // The runtime's own URL check answers this one before the app sees it.
  const before = await snapshot();
  const res = await req('PUT', '/files/a\\b', {}, 'x');
  assertJsonError(res, 400, 'invalid_path', 'raw backslash');
  await assertUnchanged(before, 'raw backslash');
  await assertServing('raw backslash');
});

bad('answers without a body (HEAD, 304, 416, 503, an empty file) close the file they opened: no descriptor leak', async () => {
  // A leaked FileHandle either stays open (more entries in /proc/PID/fd) or is
  // closed later by the garbage collector, which Node reports on stderr.
  const big = randomBytesFrom(8, 256 * 1024);
  const put = await req('PUT', '/files/fd/big.bin', {}, big);
  assert.is(put.status, 201);
  const etag = put.headers.etag as string;
  assert.is((await req('PUT', '/files/fd/empty.bin', {}, '')).status, 201);
  const fds = () => readdirSync(`/proc/${node.pid}/fd`).length;
  const gcClosed = () => node.output.filter((l) => /Closing file descriptor \d+ on garbage collection/.test(l)).length;
  await sleep(50);
  const before = { fds: fds(), gc: gcClosed() };
  for (let i = 0; i < 50; i++) {
    assert.is((await req('HEAD', '/files/fd/big.bin')).status, 200);
    assert.is((await req('GET', '/files/fd/big.bin', { 'if-none-match': etag })).status, 304);
    assert.is((await req('GET', '/files/fd/big.bin', { range: 'bytes=999999999-' })).status, 416);
    assert.is((await req('GET', '/files/fd/big.bin?min_version=ffffffffffff-ffff-zzz')).status, 503);
    assert.is((await req('GET', '/files/fd/empty.bin')).status, 200);
  }
  await sleep(200);
  const opened = fds() - before.fds;
  const collected = gcClosed() - before.gc;
  assert.ok(opened < 20 && collected === 0,
    `after 250 bodiless answers: ${opened} more descriptors open, ${collected} closed by the garbage collector`);
});

bad.run();

// ---

const aborted = suite('aborted uploads');
let big: Buffer;
let bigVersion = '';

aborted.before(async () => {
  dir = tempDir('aborted');
  node = await startNodeProcess({ dataDir: dir.path });
  big = randomBytesFrom(9, MiB);
  const put = await req('PUT', '/files/big.bin', {}, big);
  assert.is(put.status, 201);
  bigVersion = put.json.version;
});

aborted.after(async () => {
  await node?.stop();
  dir?.cleanup();
});

function open(): Promise<Socket> {
  const { hostname, port } = new URL(node.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Starts an upload, sends part of it, waits until the node is writing it, then drops the connection. */
async function abortUpload(head: string, part: Uint8Array): Promise<void> {
  const socket = await open();
  socket.on('error', () => {});
  socket.write(head);
  await new Promise<void>((r) => socket.write(part, () => r()));
  await until('the node writes the upload to a temp file', () => tmpFiles().length > 0);
  await until('the temp file has some of the body', () => {
    const [name] = tmpFiles();
    try {
      return name !== undefined && statSync(join(dir.path, '.nuvem', 'tmp', name)).size > 0;
    } catch {
      return false;
    }
  });
  socket.destroy();
  await until('the temp file is removed', () => tmpFiles().length === 0);
}

async function assertBigIntact(label: string, cursor: string): Promise<void> {
  const get = await req('GET', '/files/big.bin');
  assert.is(get.status, 200, label);
  assert.is(sha256(get.body), sha256(big), `${label}: old bytes intact`);
  assert.is(get.headers.etag, `"${bigVersion}"`, `${label}: old version current`);
  assert.is(sha256(readFileSync(join(dir.path, 'files', 'big.bin'))), sha256(big), `${label}: file on disk intact`);
  const changes = await req('GET', `/changes?since=${cursor}`);
  assert.equal(changes.json.changes, [], `${label}: no change recorded`);
}

aborted('a client that disconnects midway (Content-Length 10 MiB, 1 MiB sent) leaves the old version', async () => {
  const { cursor } = (await req('GET', '/changes')).json;
  const head = `PUT /files/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${10 * MiB}\r\n\r\n`;
  await abortUpload(head, randomBytesFrom(10, MiB));
  await assertBigIntact('Content-Length upload', cursor);
  await assertServing('an aborted upload');
});

aborted('a chunked upload cut before its last chunk leaves the old version', async () => {
  const { cursor } = (await req('GET', '/changes')).json;
  const head = `PUT /files/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const chunk = randomBytesFrom(11, 512 * 1024);
  const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  await abortUpload(head, Buffer.concat([framed, framed]));
  await assertBigIntact('chunked upload', cursor);
});

aborted('an aborted upload to a new path stores nothing there', async () => {
  const before = await snapshot();
  const head = `PUT /files/fresh/new.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${10 * MiB}\r\n\r\n`;
  await abortUpload(head, randomBytesFrom(12, MiB));
  assert.is((await req('GET', '/files/fresh/new.bin')).status, 404);
  await assertUnchanged(before, 'aborted new upload');
});

aborted.run();
