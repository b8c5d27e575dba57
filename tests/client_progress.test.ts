import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress, LIVE_THRESHOLD } from '../client/progress.ts';
import {
  fitLine, formatBytes, formatClock, formatElapsed, formatFinalLine, formatProgressLine, formatRate, RateMeter,
} from '../client/progress_format.ts';

const MiB = 1024 * 1024;

test('formatBytes picks a binary unit', () => {
  assert.is(formatBytes(0), '0 B');
  assert.is(formatBytes(1023), '1023 B');
  assert.is(formatBytes(1536), '1.5 KiB');
  assert.is(formatBytes(10 * MiB), '10.0 MiB');
  assert.is(formatBytes(1.5 * 1024 * MiB), '1.50 GiB');
  assert.is(formatBytes(-1), '?');
  assert.is(formatRate(2.5 * MiB), '2.5 MiB/s');
});

test('clock and elapsed times', () => {
  assert.is(formatClock(7), '0:07');
  assert.is(formatClock(754), '12:34');
  assert.is(formatClock(3723), '1:02:03');
  assert.is(formatClock(Infinity), '?');
  assert.is(formatElapsed(45), '45 ms');
  assert.is(formatElapsed(3210), '3.2 s');
  assert.is(formatElapsed(65_000), '1:05');
});

test('the live line: percent, sizes, rate and ETA', () => {
  const line = formatProgressLine({ label: 'get a.iso', done: 512 * MiB, total: 1024 * MiB, elapsedMs: 4000, rate: 128 * MiB });
  assert.is(line, 'get a.iso   50%  512.0 MiB / 1.00 GiB  128.0 MiB/s  ETA 0:04');
  const unknown = formatProgressLine({ label: 'put x', done: 20 * MiB, elapsedMs: 1000, rate: 0 });
  assert.is(unknown, 'put x  20.0 MiB  -- /s');
  const stalled = formatProgressLine({ label: 'put x', done: 0, total: 20 * MiB, elapsedMs: 10, rate: 0 });
  assert.match(stalled, / {2}0%.*ETA \?$/);
});

test('the final line: size, time, rate', () => {
  assert.is(formatFinalLine({ label: 'put a.bin', done: 20 * MiB, elapsedMs: 2000 }), 'put a.bin: 20.0 MiB in 2.0 s (10.0 MiB/s)');
  assert.is(formatFinalLine({ label: 'get e', done: 0, elapsedMs: 0 }), 'get e: 0 B in 0 ms (-- /s)');
});

test('fitLine cuts to the terminal width', () => {
  assert.is(fitLine('abcdef', 80), 'abcdef');
  assert.is(fitLine('abcdef', 5), 'abc…');
  assert.is(fitLine('abcdef', undefined), 'abcdef');
});

test('RateMeter follows the recent speed', () => {
  const m = new RateMeter({ windowMs: 1000 });
  m.add(0, 0);
  assert.is(m.rate(), 0);
  m.add(500, 500);
  assert.is(m.rate(), 1000);
  m.add(5000, 500); // stalled for a long while
  m.add(5500, 600);
  assert.is(m.rate(), 200);
});

/** A fake terminal and a fake clock. */
function fakeTerminal(isTTY = true) {
  const writes: string[] = [];
  let t = 0;
  return {
    writes,
    stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) },
    now: () => t,
    advance: (ms: number) => (t += ms),
  };
}

test('big transfer on a terminal: redrawn at most every 100 ms, then a final line', () => {
  const term = fakeTerminal();
  const total = 100 * MiB;
  const p = createProgress('put big', { total, stream: term.stream, now: term.now });
  for (let i = 1; i <= 100; i++) {
    term.advance(10);
    p.update(i * MiB);
  }
  p.finish();
  const live = term.writes.filter((w) => w.includes('%'));
  assert.ok(live.length >= 9 && live.length <= 11, `redraws: ${live.length}`);
  assert.ok(live.every((w) => w.startsWith('\r\x1b[K')));
  const last = term.writes.at(-1)!;
  assert.is(last, 'put big: 100.0 MiB in 1.0 s (100.0 MiB/s)\n');
});

test('small transfer on a terminal: only the final line', () => {
  const term = fakeTerminal();
  const p = createProgress('get small', { total: LIVE_THRESHOLD, stream: term.stream, now: term.now });
  term.advance(300);
  p.update(LIVE_THRESHOLD);
  p.finish();
  assert.equal(term.writes, ['get small: 10.0 MiB in 300 ms (33.3 MiB/s)\n']);
});

test('unknown size goes live once past the threshold', () => {
  const term = fakeTerminal();
  const p = createProgress('put -', { stream: term.stream, now: term.now });
  term.advance(200);
  p.update(LIVE_THRESHOLD);
  assert.is(term.writes.length, 0);
  term.advance(200);
  p.update(LIVE_THRESHOLD + 1);
  assert.is(term.writes.length, 1);
});

test('not a terminal: nothing at all; abort and final:false print no closing line', () => {
  const pipe = fakeTerminal(false);
  const p = createProgress('get x', { total: 100 * MiB, stream: pipe.stream, now: pipe.now });
  pipe.advance(500);
  p.update(50 * MiB);
  p.finish();
  assert.equal(pipe.writes, []);

  const term = fakeTerminal();
  const hashing = createProgress('hash x', { total: 100 * MiB, stream: term.stream, now: term.now, final: false });
  term.advance(500);
  hashing.update(50 * MiB);
  hashing.finish();
  assert.is(term.writes.at(-1), '\r\x1b[K');
  const aborted = createProgress('get y', { total: 1, stream: term.stream, now: term.now });
  const before = term.writes.length;
  aborted.abort();
  aborted.finish();
  assert.is(term.writes.length, before);
});

test.run();
