import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeError, errorJson } from '../client/cli_errors.ts';
import {
  formatAge, formatChange, formatListing, formatRecord, formatRevisions, formatStatus, formatStored, formatTable, formatTimestamp,
} from '../client/cli_format.ts';
import { contentTypeFor } from '../client/content_type.ts';
import { DigestMismatchError, httpErrorFrom, NuvemHttpError, NuvemNetworkError } from '../client/errors.ts';
import { NoNodeAvailableError } from '../client/selection.ts';
import { parseListPage, parseRevisions, recordFromHeaders, unquoteEtag } from '../client/records.ts';
import type { NuvemEntry } from '../client/types.ts';

const UTC = { utcOffsetMinutes: 0 };
const T = Date.UTC(2026, 10, 23, 15, 58, 1, 250);

test('timestamps in a given offset', () => {
  assert.is(formatTimestamp(T, UTC), '2026-11-23 15:58:01');
  assert.is(formatTimestamp(T, { utcOffsetMinutes: -180 }), '2026-11-23 12:58:01');
  assert.is(formatTimestamp(0, UTC), '-');
  assert.is(formatTimestamp(undefined, UTC), '-');
});

test('tables align columns, right-aligning the ones asked', () => {
  assert.is(formatTable([['A', 'SIZE', 'N'], ['xx', '1 B', 'a'], ['y', '10 KiB', 'bb']], { right: [1] }),
    'A     SIZE  N\nxx     1 B  a\ny   10 KiB  bb');
});

test('ls: type, size, modified, name relative to the folder; tombstones hidden', () => {
  const entries: NuvemEntry[] = [
    { path: 'docs/a.txt', type: 'file', size: 1536, modified: T, version: 'v1', sha256: 'x' },
    { path: 'docs/sub', type: 'folder', size: 0, modified: T, version: 'v2', sha256: '' },
    { path: 'docs/gone', type: 'file', size: 1, modified: T, version: 'v3', sha256: '', deleted: true },
  ];
  assert.is(formatListing(entries, { folder: 'docs', ...UTC }), [
    'TYPE       SIZE  MODIFIED             NAME',
    'file    1.5 KiB  2026-11-23 15:58:01  a.txt',
    'folder        -  2026-11-23 15:58:01  sub/',
  ].join('\n'));
  assert.is(formatListing([], { folder: '', ...UTC }), '');
});

test('stat: known fields first, sizes and times readable', () => {
  const text = formatRecord({ sha256: 'ab', path: 'a.txt', zeta: { k: 1 }, size: 2048, modified: T, version: 'v9', replicas: ['n1', 'n2'] }, UTC);
  assert.is(text, [
    'path:     a.txt',
    'size:     2048 (2.0 KiB)',
    `modified: 2026-11-23 15:58:01 (${T})`,
    'version:  v9',
    'sha256:   ab',
    'replicas: n1, n2',
    'zeta:     {"k":1}',
  ].join('\n'));
});

test('revisions table and the put summary', () => {
  const text = formatRevisions([
    { path: 'a', version: 'v2', size: 10, sha256: '0123456789abcdef', modified: T, origin: 'n1' },
    { path: 'a', version: 'v1', size: 0, sha256: '', modified: T, deleted: true },
  ], UTC);
  assert.is(text.split('\n')[0], 'VERSION  SIZE  MODIFIED             SHA256        ORIGIN');
  assert.match(text, /v2\s+10 B\s+2026-11-23 15:58:01\s+0123456789ab\s+n1/);
  assert.match(text, /v1\s+-\s+2026-11-23 15:58:01\s+\(deleted\)/);
  assert.is(formatRevisions([]), '');
  assert.is(formatStored({ path: 'a.txt', size: 5, version: 'v1', replicas: ['n1'] }), 'a.txt (5 B, version v1, on 1 node(s))');
});

test('HTTP errors carry the server JSON code and message', () => {
  const e = httpErrorFrom(404, { bodyText: '{"error":"not_found","message":"No file or folder at \\"x\\""}', node: 'http://a:1' });
  assert.instance(e, NuvemHttpError);
  assert.is(e.status, 404);
  assert.is(e.code, 'not_found');
  assert.is(e.message, 'No file or folder at "x"');
  assert.is(e.node, 'http://a:1');
  const wc = httpErrorFrom(503, { bodyText: '{"error":"write_concern","message":"m","replicas":["n1"]}' });
  assert.equal(wc.body.replicas, ['n1']);
  const html = httpErrorFrom(502, { bodyText: '<html>bad gateway</html>', statusText: 'Bad Gateway' });
  assert.is(html.code, 'http_502');
  assert.is(html.message, '502 Bad Gateway');
  assert.is(httpErrorFrom(412, { bodyText: '' }).code, 'precondition_failed');
});

test('CLI error wording', () => {
  const fsError = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'stat', path: 'x.txt' });
  assert.is(describeError(fsError), 'Cannot stat "x.txt": no such file or folder');
  const net = new NuvemNetworkError('http://a:1', { cause: Object.assign(new TypeError('fetch failed'), { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }) });
  assert.is(describeError(net), 'Cannot reach http://a:1: connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(errorJson(net), { error: 'network', message: net.message, node: 'http://a:1' });
  const deno = new NuvemNetworkError('http://a:1', { cause: new TypeError('error sending request for url (http://a:1/files/): client error (Connect): tcp connect error: Connection refused (os error 111)') });
  assert.is(deno.message, 'Cannot reach http://a:1: Connection refused (os error 111)');
  const bad = new DigestMismatchError('the download', { expected: 'aa', actual: 'bb' });
  assert.match(describeError(bad), /SHA-256 is bb but the node announced aa/);
  assert.equal(errorJson(httpErrorFrom(404, { bodyText: '{"error":"not_found","message":"m"}' })), { error: 'not_found', message: 'm', status: 404 });
});

test('records from download headers', () => {
  const headers = new Headers({
    etag: '"0000019ab-0001-n1"',
    'content-length': '11',
    'content-digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
    'last-modified': new Date(T).toUTCString(),
    'content-type': 'text/plain',
  });
  assert.equal(recordFromHeaders('a.txt', headers), {
    path: 'a.txt', type: 'file', version: '0000019ab-0001-n1', size: 11,
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    modified: Math.floor(T / 1000) * 1000, contentType: 'text/plain',
  });
  headers.set('x-nuvem-modified', String(T));
  headers.set('x-nuvem-origin', 'n1');
  headers.set('x-nuvem-seq', '4');
  const exact = recordFromHeaders('a.txt', headers);
  assert.is(exact.modified, T);
  assert.is(exact.origin, 'n1');
  assert.is(exact.seq, 4);
  assert.is(unquoteEtag('W/"v1"'), 'v1');
  assert.is(unquoteEtag(null), '');
});

test('listing pages and revisions are checked', () => {
  assert.equal(parseListPage({ entries: [], next_cursor: null }), { entries: [], nextCursor: '' });
  assert.equal(parseListPage({ entries: [{ path: 'a' }], next_cursor: 'c2' }).nextCursor, 'c2');
  assert.throws(() => parseListPage({ items: [] }), /"entries" is not a list/);
  assert.throws(() => parseListPage('nope'), /expected a JSON object/);
  assert.equal(parseRevisions({ revisions: [] }), []);
  assert.throws(() => parseRevisions({}), /"revisions" is not a list/);
});

test('content types from extensions', () => {
  assert.is(contentTypeFor('notes/today.md'), 'text/markdown; charset=utf-8');
  assert.is(contentTypeFor('PHOTO.JPG'), 'image/jpeg');
  assert.is(contentTypeFor('.bashrc'), 'application/octet-stream');
  assert.is(contentTypeFor('Makefile'), 'application/octet-stream');
});

test('status: a row per node by id, offline ones included, and how many are online', () => {
  const text = formatStatus([
    { id: 'node-2', url: 'http://127.0.0.1:7002', state: 'offline', heartbeatAgeMs: 12_300, heartbeatMs: 1000, lag: 0, files: 3, bytes: 2048, disk: { free: 5 * 2 ** 30, total: 20 * 2 ** 30 } },
    {
      id: 'node-1', url: 'http://127.0.0.1:7001', state: 'online', heartbeatAgeMs: 420, heartbeatMs: 1000, lag: 2, latencyMs: 1.234, files: 3, bytes: 2048,
      disk: { free: 5 * 2 ** 30, total: 20 * 2 ** 30 }, cpu: 0.126, load: 0.5, mem: { rss: 60 * 2 ** 20, free: 3 * 2 ** 30, total: 8 * 2 ** 30 },
    },
    { id: 'http://127.0.0.1:7003', url: 'http://127.0.0.1:7003', state: 'unreachable', heartbeatMs: 5000, error: 'connect ECONNREFUSED' },
  ]);
  const lines = text.split('\n');
  assert.match(lines[0], /^NODE\s+STATE\s+HEARTBEAT\s+LAG\s+LATENCY\s+FILES\s+DISK\s+CPU\s+LOAD\s+MEMORY\s+URL$/);
  assert.match(lines[1], /^http:\/\/127\.0\.0\.1:7003\s+unreachable\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+http/);
  assert.match(lines[2], /^node-1\s+online\s+420 ms\s+2\s+1\.2 ms\s+3 \(2\.0 KiB\)\s+5\.00 GiB free of 20\.0 GiB\s+13%\s+0\.50\s+60\.0 MiB \(3\.00 GiB free of 8\.00 GiB\)\s+http:\/\/127\.0\.0\.1:7001$/);
  assert.match(lines[3], /^node-2\s+offline\s+12\.3 s\s+0\s+-\s+3 \(2\.0 KiB\)\s+5\.00 GiB free of 20\.0 GiB\s+-\s+-\s+-\s+http/, 'no resource report: dashes');
  assert.is(lines[4], '1 of 3 nodes online');
  assert.is(formatStatus([]), 'no nodes known');
  assert.is(formatAge(undefined), '-');
  assert.is(formatAge(90_000), '2 min');
});

test('watch: one line per change', () => {
  const base = { type: 'file' as const, version: '0192f3a4b5c6-0000-n1', size: 2048, sha256: 'a'.repeat(64), modified: 1, contentType: 'x/y', deleted: false, origin: 'n1', seq: 7 };
  const at = { at: T, ...UTC };
  assert.is(formatChange({ ...base, path: 'a/b.txt', op: 'put' }, at), '15:58:01  put     a/b.txt  (2.0 KiB)  [n1 #7]');
  assert.is(formatChange({ ...base, path: 'c.txt', from: 'a/b.txt', op: 'move' }, at), '15:58:01  move    a/b.txt -> c.txt  [n1 #7]');
  assert.is(formatChange({ ...base, path: 'c.txt', op: 'delete', deleted: true }, at), '15:58:01  delete  c.txt  [n1 #7]');
  assert.is(formatChange({ ...base, path: 'docs', type: 'folder', op: 'mkcol' }, at), '15:58:01  mkdir   docs/  [n1 #7]');
});

test('no node available: the message says why for each, JSON carries the list', () => {
  const err = new NoNodeAvailableError('No Nuvem node can take the request (a: offline)', { excluded: [{ id: 'a', url: 'http://a:1', reason: 'offline' }] });
  assert.is(describeError(err), 'No Nuvem node can take the request (a: offline)');
  assert.equal(errorJson(err), { error: 'no_node', message: err.message, excluded: err.excluded });
});

test.run();
