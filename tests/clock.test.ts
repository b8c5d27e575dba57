import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClock } from '../nodes/clock.ts';
import { compareVersions, parseVersion } from '../protocol/version.ts';

test('versions increase even when the wall clock stands still or goes back', () => {
  let now = 1000;
  const clock = createClock({ nodeId: 'n1', now: () => now });
  const a = clock.tick();
  const b = clock.tick();
  now = 500;
  const c = clock.tick();
  assert.ok(compareVersions(a, b) < 0 && compareVersions(b, c) < 0);
  assert.equal(parseVersion(c), { wall: 1000, counter: 2, node: 'n1' });
});

test('observing a later version moves the clock past it', () => {
  const clock = createClock({ nodeId: 'a', now: () => 10 });
  const remote = createClock({ nodeId: 'b', now: () => 5000 }).tick();
  clock.observe(remote);
  const next = clock.tick();
  assert.ok(next > remote, `${next} > ${remote}`);
});

test('ties at the same instant are broken by node id', () => {
  const a = createClock({ nodeId: 'a', now: () => 7 }).tick();
  const b = createClock({ nodeId: 'b', now: () => 7 }).tick();
  assert.ok(a < b);
});

test('the counter overflowing moves to the next millisecond', () => {
  const clock = createClock({ nodeId: 'n', now: () => 1 });
  let last = '';
  for (let i = 0; i <= 0x10001; i++) last = clock.tick();
  assert.is(parseVersion(last)!.wall, 2);
});

test('a version more than a minute ahead is refused and does not move the clock', () => {
  let now = 1_000_000;
  const clock = createClock({ nodeId: 'a', now: () => now });
  const forged = 'ffffffffffff-ffff-b';
  assert.is(clock.tooFarAhead(forged), true);
  assert.is(clock.observe(forged), false);
  assert.equal(parseVersion(clock.tick())!.wall, now);
  const soon = createClock({ nodeId: 'b', now: () => now + 59_000 }).tick();
  assert.is(clock.tooFarAhead(soon), false);
  assert.is(clock.observe(soon), true);
  assert.ok(clock.tick() > soon);
  now += 1;
  assert.is(clock.observe(createClock({ nodeId: 'c', now: () => now + 61_000 }).tick()), false);
});

test('a clock at the end of its format saturates and stays valid', () => {
  const clock = createClock({ nodeId: 'n', now: () => 0xffff_ffff_ffff + 5, maxAheadMs: Infinity });
  assert.is(clock.observe('ffffffffffff-fffe-z'), true);
  const versions = [clock.tick(), clock.tick(), clock.tick()];
  for (const v of versions) assert.ok(parseVersion(v), `${v} parses`);
  assert.is(versions[2], 'ffffffffffff-ffff-n');
});

test.run();
