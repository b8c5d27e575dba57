/**
 * A temp file written while its disk fills: a short write (the kernel takes
 * what fits) must never leave a hole. Space freed a moment later used to let
 * the next batch land after the lost bytes, and the file was kept under the
 * hash of the bytes it was sent: a replica then served a truncated file
 * (caught by disk_full_replica.test.ts, under load).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeTemp } from '../nodes/disk.ts';
import { sleep } from './_support/sleep.ts';
import { mountTmpfs, tmpfsUnavailable } from './_support/tmpfs.ts';

const unavailable = tmpfsUnavailable();

test('a short write on a filling disk fails the temp file or completes it, never skips bytes', async () => {
  if (unavailable) return console.log(`  skipped: no tmpfs (${unavailable})`);
  const fs = mountTmpfs({ mib: 8, label: 'short-write' });
  try {
    fs.fill({ leaveBytes: 256 << 10 });
    const first = new Uint8Array(2 << 20).fill(1); // more than is free: a short write
    const second = new Uint8Array(1 << 20).fill(2);
    const body = async function* () {
      yield first;
      await sleep(300); // the write of `first` has come back short by now
      fs.unfill(); // room again for what follows
      yield second;
    };
    let result;
    try {
      result = await writeTemp(fs.path, body());
    } catch (err) {
      assert.is((err as { code?: string }).code, 'disk_full');
      return;
    }
    const bytes = readFileSync(result.path);
    assert.is(bytes.byteLength, result.size);
    assert.is(createHash('sha256').update(bytes).digest('hex'), result.sha256);
  } finally {
    fs.cleanup();
  }
});

test.run();
