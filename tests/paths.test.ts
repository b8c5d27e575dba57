import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NuvemError } from '../protocol/errors.ts';
import { ancestorsOf, parseEncodedPath, parseFolder, parsePath, subtreeRange, utf8Length } from '../protocol/paths.ts';

const refused = (raw: string, encoded = false) => {
  try {
    encoded ? parseEncodedPath(raw) : parsePath(raw);
  } catch (err) {
    assert.instance(err, NuvemError);
    assert.is((err as NuvemError).code, 'invalid_path');
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(raw)}`);
};

test('accepts ordinary relative paths and normalises to NFC', () => {
  assert.is(parsePath('photos/2026/a.jpg'), 'photos/2026/a.jpg');
  assert.is(parsePath('cafe\u0301.txt'), 'caf\u00e9.txt');
  assert.is(parsePath('a b/ç/名前.txt'), 'a b/ç/名前.txt');
  assert.is(parsePath('.hidden/..dots'), '.hidden/..dots');
});

test('refuses every form the contract names', () => {
  for (const raw of ['', '/a', 'a//b', 'a/', './a', 'a/./b', '../a', 'a/..', 'a\u0000b', 'a\nb', 'a\u007fb', 'a\\b', '.nuvem', 'x/.nuvem/y', '.NUVEM']) {
    refused(raw);
  }
  refused('a'.repeat(1025));
  refused('b'.repeat(256));
  assert.is(parsePath('b'.repeat(255)), 'b'.repeat(255));
  assert.is(parsePath(('c'.repeat(200) + '/').repeat(4) + 'd'.repeat(220)).length, 1024);
  refused(('c'.repeat(200) + '/').repeat(4) + 'd'.repeat(221));
  refused('é'.repeat(128)); // 256 bytes in one segment
  assert.is(parsePath('é'.repeat(127) + 'e'), 'é'.repeat(127) + 'e'); // 255 bytes
  refused('名'.repeat(86)); // 258 bytes, 86 characters
  refused('😀'.repeat(64)); // 256 bytes, 128 UTF-16 units
  assert.is(parsePath('😀'.repeat(63) + 'abc'), '😀'.repeat(63) + 'abc'); // 255 bytes
  refused(('😀'.repeat(50) + '/').repeat(5) + 'x'.repeat(20)); // 1,025 bytes
  refused('a\ud800b'); // a lone surrogate has no UTF-8 form
});

test('counts UTF-8 bytes as an encoder does', () => {
  const encoder = new TextEncoder();
  for (const s of ['', 'abc', 'é', 'caf\u00e9/x', '名前.txt', '😀', 'a😀b€ß', '\u07ff\u0800\uffff', '\u{10ffff}']) {
    assert.is(utf8Length(s), encoder.encode(s).length, JSON.stringify(s));
  }
  assert.is(utf8Length('abc', true), 3);
});

test('decodes percent-encoding and refuses invalid encodings', () => {
  assert.is(parseEncodedPath('a%20b/c%2Bd'), 'a b/c+d');
  refused('%zz', true);
  refused('a/%2e%2e/b', true);
  refused('a%00', true);
  refused('%ff', true);
});

test('folders for listing', () => {
  assert.is(parseFolder(''), '');
  assert.is(parseFolder('a/b/'), 'a/b');
  assert.equal(ancestorsOf('a/b/c'), ['a', 'a/b']);
  assert.equal(subtreeRange('a'), ['a/', 'a0']);
});

test.run();
