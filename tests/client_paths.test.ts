import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  baseName, encodeRemote, fileTarget, folderTarget, joinUrl, normalizeNodeUrl, normalizeRemote, parseNodeList,
  relativeTo, remoteForPut, revisionsTarget,
} from '../client/paths.ts';

test('normalizeRemote strips leading and trailing slashes', () => {
  assert.is(normalizeRemote('/photos/a.jpg'), 'photos/a.jpg');
  assert.is(normalizeRemote('photos/2026/'), 'photos/2026');
  assert.is(normalizeRemote('/', { root: true }), '');
  assert.is(normalizeRemote('', { root: true }), '');
});

test('normalizeRemote refuses dot segments, empty segments and the root as a file', () => {
  assert.throws(() => normalizeRemote('a/../b'), /"\.\." segments are not allowed/);
  assert.throws(() => normalizeRemote('./a'), /"\." segments/);
  assert.throws(() => normalizeRemote('a//b'), /empty segment/);
  assert.throws(() => normalizeRemote('/'), /names the root/);
  assert.throws(() => normalizeRemote(''), /names the root/);
});

test('encodeRemote percent-encodes each segment and keeps the slashes', () => {
  assert.is(encodeRemote('photos/a b.jpg'), 'photos/a%20b.jpg');
  assert.is(encodeRemote('q?/h#/p%/plus+'), 'q%3F/h%23/p%25/plus%2B');
  assert.is(encodeRemote('café/日本.txt'), 'caf%C3%A9/%E6%97%A5%E6%9C%AC.txt');
  assert.is(encodeRemote('back\\slash'), 'back%5Cslash');
});

test('targets for files, folders and revisions', () => {
  assert.is(fileTarget('a b/c.txt'), '/files/a%20b/c.txt');
  assert.is(fileTarget('a', { version: 'v 1', w: undefined, recursive: false }), '/files/a?version=v+1');
  assert.is(fileTarget('a', { recursive: 'true', w: 2 }), '/files/a?recursive=true&w=2');
  assert.is(folderTarget(''), '/files/');
  assert.is(folderTarget('', { recursive: 'true' }), '/files/?recursive=true');
  assert.is(folderTarget('my docs', { cursor: 'c/1=' }), '/files/my%20docs/?cursor=c%2F1%3D');
  assert.is(revisionsTarget('x/y#1'), '/revisions/x/y%231');
  assert.is(joinUrl('http://127.0.0.1:7001', '/files/a'), 'http://127.0.0.1:7001/files/a');
});

test('node URLs are checked and lose a trailing slash; a base path is kept', () => {
  assert.is(normalizeNodeUrl('http://127.0.0.1:7001/'), 'http://127.0.0.1:7001');
  assert.is(normalizeNodeUrl(' https://example.test/nuvem/ '), 'https://example.test/nuvem');
  assert.throws(() => normalizeNodeUrl('127.0.0.1:7001'), /only http and https|not a URL/);
  assert.throws(() => normalizeNodeUrl('ftp://x'), /only http and https/);
  assert.throws(() => normalizeNodeUrl('http://x/?a=1'), /query or fragment/);
  assert.throws(() => normalizeNodeUrl('not a url'), /not a URL/);
});

test('parseNodeList splits a comma list and skips blanks', () => {
  assert.equal(parseNodeList('http://a:1, http://b:2/,,'), ['http://a:1', 'http://b:2']);
  assert.equal(parseNodeList(''), []);
});

test('remoteForPut: default name, into a folder, or as given', () => {
  assert.is(remoteForPut('/tmp/report.pdf'), 'report.pdf');
  assert.is(remoteForPut('./report.pdf', ''), 'report.pdf');
  assert.is(remoteForPut('/tmp/report.pdf', 'docs/'), 'docs/report.pdf');
  assert.is(remoteForPut('/tmp/report.pdf', '/docs/2026/'), 'docs/2026/report.pdf');
  assert.is(remoteForPut('/tmp/report.pdf', '/'), 'report.pdf');
  assert.is(remoteForPut('/tmp/report.pdf', 'docs/final.pdf'), 'docs/final.pdf');
  assert.throws(() => remoteForPut('/tmp/a', 'x/../'), /"\.\."/);
});

test('baseName and relativeTo', () => {
  assert.is(baseName('a/b/c.txt'), 'c.txt');
  assert.is(baseName('c.txt'), 'c.txt');
  assert.is(baseName('dir/sub/'), 'sub');
  assert.is(relativeTo('docs/a/b.txt', 'docs'), 'a/b.txt');
  assert.is(relativeTo('docs/a', ''), 'docs/a');
  assert.is(relativeTo('docsx/a', 'docs'), 'docsx/a');
});

test.run();
