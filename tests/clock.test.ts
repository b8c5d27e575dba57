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

test.run();
