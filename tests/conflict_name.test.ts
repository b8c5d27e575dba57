import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conflictName, formatUtc, isConflictCopy, sanitizeHost, splitExtension } from '../client/conflict_name.ts';

const date = new Date('2026-03-07T09:05:01.789Z');
const at = { host: 'laptop', date };

test('conflictName puts the marker before the extension, in the same folder, in UTC', () => {
  assert.is(conflictName('docs/report.pdf', at), 'docs/report (conflict laptop 2026-03-07 090501).pdf');
  assert.is(conflictName('report.pdf', at), 'report (conflict laptop 2026-03-07 090501).pdf');
  assert.is(conflictName('a/b/c/notes.md', { host: 'h', date: new Date('2026-12-31T23:59:59+02:00') }),
    'a/b/c/notes (conflict h 2026-12-31 215959).md');
});

test('conflictName: the extension is the last one; dotfiles and dotless names have none', () => {
  assert.is(conflictName('backup.tar.gz', at), 'backup.tar (conflict laptop 2026-03-07 090501).gz');
  assert.is(conflictName('home/.bashrc', at), 'home/.bashrc (conflict laptop 2026-03-07 090501)');
  assert.is(conflictName('.config.json', at), '.config (conflict laptop 2026-03-07 090501).json');
  assert.is(conflictName('Makefile', at), 'Makefile (conflict laptop 2026-03-07 090501)');
  assert.is(conflictName('odd.', at), 'odd. (conflict laptop 2026-03-07 090501)');
  assert.is(conflictName('v1.2/readme', at), 'v1.2/readme (conflict laptop 2026-03-07 090501)');
});

test('conflictName sanitises the host', () => {
  assert.is(conflictName('a.txt', { host: 'Ana’s MacBook (2)', date }), 'a (conflict Ana-s-MacBook-2 2026-03-07 090501).txt');
  assert.is(conflictName('a.txt', { host: '../etc/passwd', date }), 'a (conflict etc-passwd 2026-03-07 090501).txt');
  assert.is(conflictName('a.txt', { host: '', date }), 'a (conflict unknown 2026-03-07 090501).txt');
  assert.is(sanitizeHost('node-1.example.org'), 'node-1.example.org');
  assert.is(sanitizeHost('x'.repeat(100)).length, 63);
});

test('conflictName numbers the copy while the name is taken', () => {
  const taken = new Set(['r (conflict laptop 2026-03-07 090501).txt', 'r (conflict laptop 2026-03-07 090501 2).txt']);
  assert.is(conflictName('r.txt', { ...at, taken: (p) => taken.has(p) }), 'r (conflict laptop 2026-03-07 090501 3).txt');
  assert.is(conflictName('r.txt', { ...at, taken: () => false }), 'r (conflict laptop 2026-03-07 090501).txt');
});

test('conflictName keeps the segment within 255 bytes, cutting whole characters', () => {
  const copy = conflictName(`d/${'é'.repeat(200)}.txt`, at);
  const segment = copy.slice(2);
  assert.ok(new TextEncoder().encode(segment).length <= 255);
  assert.ok(segment.endsWith(' (conflict laptop 2026-03-07 090501).txt'));
  assert.ok(segment.startsWith('éé'));
  assert.not.ok(segment.includes('\uFFFD'));
});

test('conflictName refuses an invalid date', () => {
  assert.throws(() => conflictName('a', { host: 'h', date: new Date('nope') }), /date is invalid/);
});

test('isConflictCopy recognises copies, numbered or not, and nothing else', () => {
  assert.ok(isConflictCopy(conflictName('docs/report.pdf', at)));
  assert.ok(isConflictCopy(conflictName('.bashrc', at)));
  assert.ok(isConflictCopy('x/r (conflict laptop 2026-03-07 090501 12).txt'));
  assert.not.ok(isConflictCopy('docs/report.pdf'));
  assert.not.ok(isConflictCopy('r (conflict) .txt'));
  assert.not.ok(isConflictCopy('r (conflict laptop 2026-03-07 090501).txt/inside.txt'));
  assert.not.ok(isConflictCopy('r (conflict laptop 2026-03-07).txt'));
});

test('splitExtension and formatUtc', () => {
  assert.equal(splitExtension('a.b.c'), { stem: 'a.b', ext: '.c' });
  assert.equal(splitExtension('.env'), { stem: '.env', ext: '' });
  assert.is(formatUtc(new Date(Date.UTC(2026, 0, 2, 3, 4, 5))), '2026-01-02 030405');
});

test.run();
