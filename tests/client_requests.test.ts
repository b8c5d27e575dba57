import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { base64ToHex, contentDigestHeader, hexToBase64, readContentDigest } from '../protocol/content_digest.ts';
import {
  deleteRequest, getRequest, headRequest, isSafe, listRequest, mkcolRequest, moveRequest, putRequest, quoteVersion,
  rangeHeader, revisionsRequest,
} from '../client/requests.ts';

const EMPTY_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

test('Content-Digest round trip (RFC 9530 sha-256)', () => {
  assert.is(contentDigestHeader(EMPTY_SHA), 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
  assert.is(readContentDigest('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'), EMPTY_SHA);
  assert.is(readContentDigest('sha-512=:AAAA:, sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'), EMPTY_SHA);
  assert.is(readContentDigest(null), null);
  assert.is(readContentDigest('sha-256=:AAAA:'), null);
  assert.is(base64ToHex(hexToBase64('00ff10')), '00ff10');
  assert.throws(() => contentDigestHeader('abc'), /64 hex digits/);
});

test('put: target, content type, length, digest and conditions', () => {
  const req = putRequest('docs/a b.txt', { contentType: 'text/plain', size: 5, sha256: EMPTY_SHA, ifMatch: 'v1', w: 'majority' });
  assert.is(req.method, 'PUT');
  assert.is(req.target, '/files/docs/a%20b.txt?w=majority');
  assert.equal(req.headers, {
    'content-type': 'text/plain',
    'content-length': '5',
    'content-digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
    'if-match': '"v1"',
  });
  const plain = putRequest('x', { ifNoneMatch: '*' });
  assert.equal(plain.headers, { 'content-type': 'application/octet-stream', 'if-none-match': '*' });
  assert.is(plain.target, '/files/x');
});

test('quoteVersion leaves quoted and weak tags alone', () => {
  assert.is(quoteVersion('v1'), '"v1"');
  assert.is(quoteVersion('"v1"'), '"v1"');
  assert.is(quoteVersion('W/"v1"'), 'W/"v1"');
});

test('get: range and version', () => {
  assert.equal(getRequest('a', { range: { start: 0, end: 99 }, version: 'v7' }), {
    method: 'GET', target: '/files/a?version=v7', headers: { range: 'bytes=0-99' },
  });
  assert.is(rangeHeader({ start: 100 }), 'bytes=100-');
  assert.is(rangeHeader('bytes=-10'), 'bytes=-10');
  assert.throws(() => rangeHeader({ start: 5, end: 2 }), RangeError);
  assert.throws(() => rangeHeader({ start: -1 }), RangeError);
  assert.equal(headRequest('a/b'), { method: 'HEAD', target: '/files/a/b', headers: {} });
});

test('delete, move, mkcol, list and revisions', () => {
  assert.is(deleteRequest('d', { recursive: true }).target, '/files/d?recursive=true');
  assert.is(deleteRequest('d').target, '/files/d');
  assert.equal(moveRequest('a b', 'c/d#e', { overwrite: false }), {
    method: 'MOVE', target: '/files/a%20b', headers: { destination: '/files/c/d%23e', overwrite: 'F' },
  });
  assert.is(moveRequest('a', 'b').headers.overwrite, 'T');
  assert.equal(mkcolRequest('new folder'), { method: 'MKCOL', target: '/files/new%20folder', headers: {} });
  assert.is(listRequest('').target, '/files/');
  assert.is(listRequest('photos', { recursive: true, cursor: 'abc', limit: 10 }).target, '/files/photos/?recursive=true&limit=10&cursor=abc');
  assert.is(listRequest('photos', { cursor: '' }).target, '/files/photos/');
  assert.is(revisionsRequest('a.txt').target, '/revisions/a.txt');
});

test('only GET and HEAD are safe to retry elsewhere', () => {
  assert.ok(isSafe(getRequest('a')));
  assert.ok(isSafe(headRequest('a')));
  assert.not.ok(isSafe(putRequest('a')));
  assert.not.ok(isSafe(moveRequest('a', 'b')));
  assert.not.ok(isSafe(deleteRequest('a')));
});

test.run();
