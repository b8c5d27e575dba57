/**
 * The free-space reserve (nodes/disk_space.ts) and `--reserve`
 * (nodes/config.ts): the default is 1 % of the volume or 256 MiB, whichever
 * is smaller; statfs is read at most once a second while space is plentiful
 * and afresh for every upload near the reserve. Time and statfs are passed in.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseNodeArgs, parseReserve } from '../nodes/config.ts';
import { DiskSpace, reserveFor, RESERVE_CAP } from '../nodes/disk_space.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

test('the default reserve is 1 % of the volume or 256 MiB, whichever is smaller; a configured one is taken as given', () => {
  assert.is(reserveFor(16 * MiB), Math.floor(16 * MiB / 100));
  assert.is(reserveFor(10 * GiB), Math.floor(10 * GiB / 100));
  assert.is(reserveFor(1024 * GiB), RESERVE_CAP);
  assert.is(reserveFor(1024 * GiB, { bytes: 0 }), 0);
  assert.is(reserveFor(1000, { ratio: 0.05 }), 50);
});

test('--reserve takes bytes with K/M/G/T suffixes or a percentage; anything else is a usage error', () => {
  assert.equal(parseReserve('0'), { bytes: 0 });
  assert.equal(parseReserve('512M'), { bytes: 512 * MiB });
  assert.equal(parseReserve('2GiB'), { bytes: 2 * GiB });
  assert.equal(parseReserve('1%'), { ratio: 0.01 });
  for (const bad of ['-1', 'lots', '80%', '1.5G']) assert.throws(() => parseReserve(bad), /--reserve/);
  assert.equal(parseNodeArgs(['--reserve', '64M'], {}).reserve, { bytes: 64 * MiB });
  assert.is(parseNodeArgs([], {}).reserve, undefined);
});

test('uploads are refused below the reserve with disk_full; statfs is read once a second when space is plentiful, every time near the reserve', async () => {
  let now = 0;
  let reads = 0;
  let free = 100 * GiB;
  const space = new DiskSpace({ usage: async () => (reads++, { free, total: 1024 * GiB }), now: () => now });
  for (let i = 0; i < 5; i++) await space.admit();
  assert.is(reads, 1, 'one statfs for five uploads');
  now += 1000;
  await space.admit();
  assert.is(reads, 2, 'read again after a second');
  free = 300 * MiB; // near the 256 MiB reserve
  now += 1000;
  await space.admit();
  await space.admit();
  assert.is(reads, 4, 'near the reserve every upload reads afresh');
  free = 100 * MiB;
  const err = await space.admit().catch((e) => e);
  assert.is(err.code, 'disk_full');
  assert.is(err.extra.reserve, RESERVE_CAP);
  assert.ok(space.full());
  free = 10 * GiB;
  await space.admit();
  assert.not.ok(space.full(), 'freed space lets uploads in again');
});

test.run();
