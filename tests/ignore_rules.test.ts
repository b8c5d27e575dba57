import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileIgnore } from '../client/ignore_rules.ts';

test('.nuvem-sync and .nuvem folders are always ignored, at any depth, with empty rules', () => {
  const ignored = compileIgnore('');
  assert.ok(ignored('.nuvem-sync', true));
  assert.ok(ignored('.nuvem-sync/state.json', false));
  assert.ok(ignored('.nuvem', true));
  assert.ok(ignored('photos/.nuvem/tmp/x', false));
  assert.ok(ignored('a/.nuvem-sync', true));
  assert.not.ok(ignored('.nuvem', false), 'a file of that name is left to the rules');
  assert.not.ok(ignored('.nuvem-syncx/a', false));
  assert.not.ok(ignored('.nuvemignore', false));
  assert.not.ok(ignored('docs/a.txt', false));
  assert.not.ok(ignored('', true), 'the root itself is never ignored');
});

test('a negation in the file cannot bring the built-in folders back', () => {
  const ignored = compileIgnore('!.nuvem-sync/\n!.nuvem-sync/**\n!.nuvem/\n');
  assert.ok(ignored('.nuvem-sync/change_log.jsonl', false));
  assert.ok(ignored('.nuvem', true));
});

test('gitignore patterns: globs, anchors, folder-only rules, comments, negation', () => {
  const ignored = compileIgnore([
    '# build output', '*.log', '!keep.log', '/top.txt', 'build/', 'src/**/gen', '\\#literal', 'cache?', '[Tt]humbs.db', '',
  ].join('\n'));
  assert.ok(ignored('a.log', false));
  assert.ok(ignored('deep/er/a.log', false));
  assert.not.ok(ignored('keep.log', false));
  assert.not.ok(ignored('x/keep.log', false));
  assert.ok(ignored('top.txt', false));
  assert.not.ok(ignored('x/top.txt', false), 'a leading / anchors to the synced root');
  assert.ok(ignored('build', true));
  assert.ok(ignored('x/build', true));
  assert.not.ok(ignored('build', false), 'build/ matches folders only');
  assert.ok(ignored('src/a/b/gen', true));
  assert.ok(ignored('src/gen', false));
  assert.ok(ignored('#literal', false));
  assert.not.ok(ignored('# build output', false));
  assert.ok(ignored('cache1', true));
  assert.ok(ignored('thumbs.db', false));
  assert.ok(ignored('Thumbs.db', false));
});

test('everything under an ignored folder is ignored and cannot be re-included', () => {
  const ignored = compileIgnore('build/\n!build/keep.txt\nnode_modules\n');
  assert.ok(ignored('build/a/b/c.js', false));
  assert.ok(ignored('build/keep.txt', false));
  assert.ok(ignored('web/node_modules/x/index.js', false));
  assert.ok(ignored('web/node_modules', true));
});

test('re-including inside a folder whose contents (not the folder) are ignored', () => {
  const ignored = compileIgnore('docs/*\n!docs/keep.md\n');
  assert.ok(ignored('docs/a.md', false));
  assert.not.ok(ignored('docs/keep.md', false));
  assert.not.ok(ignored('docs', true));
});

test('matching is case-sensitive and Unicode-normalised; CRLF files work', () => {
  const ignored = compileIgnore('*.LOG\r\ncafe\u0301.txt\r\n');
  assert.ok(ignored('a.LOG', false));
  assert.not.ok(ignored('a.log', false));
  assert.ok(ignored('caf\u00e9.txt', false), 'NFC path against an NFD rule');
  assert.ok(ignored('cafe\u0301.txt', false), 'NFD path against an NFD rule');
});

test('a path that is not relative is refused', () => {
  const ignored = compileIgnore('a');
  assert.throws(() => ignored('/a', false), RangeError);
  assert.throws(() => ignored('../a', false), RangeError);
});

test.run();
