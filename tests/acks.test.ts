/**
 * Write-concern waits over many changes (nodes/acks.ts): a folder move of
 * 20,000 entries waits for each online peer's acks of all 20,000 seqs. A wait
 * counts acks as they come (O(1) each), so it is met once they are all in,
 * however many there are; before, a wait looked at every seq on every ack,
 * and acks past the newest 10,000 seqs were dropped (each add sorting all of
 * them), so such a wait could never be met.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AckWaits } from '../nodes/acks.ts';
import { Membership } from '../nodes/membership.ts';
import type { FileRecord } from '../protocol/record.ts';

test('a wait for 20,000 changes is met once an online peer acked all of them, and not before', async () => {
  let now = 1_000_000;
  const membership = new Membership('me', {}, { now });
  membership.update({
    id: 'peer', url: 'http://127.0.0.1:9', state: 'online', ts: now, startedAt: now, heartbeatMs: 1_000_000,
    seq: 0, applied: {}, lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 1 }, inflight: 0, version: '0.1.0',
  } as Parameters<Membership['update']>[0], now);
  membership.verify('peer', 'http://127.0.0.1:9');
  const acks = new AckWaits({ nodeId: 'me', membership, now: () => now });
  const n = 20_000;
  const records = Array.from({ length: n }, (_, i) => ({ origin: 'me', seq: i + 1, size: 0 }) as FileRecord);
  let result: string[] | Error | undefined;
  const wait = acks.wait(records, 'auto').then((r) => (result = r), (e) => (result = e));
  const started = performance.now();
  for (let s = 1; s < n; s++) acks.add(s, 'peer');
  await new Promise((r) => setTimeout(r, 300));
  assert.is(result, undefined, 'one seq not acked yet: still waiting');
  acks.add(n, 'peer');
  const ms = performance.now() - started;
  now += 4000; // within the ack timeout (5 s): a wait that is not met by now never is
  await Promise.race([wait, new Promise((r) => setTimeout(r, 1000))]);
  now += 60_000; // a wait still under way gives up at its next look
  assert.equal(result, ['me', 'peer']);
  console.log(`  (${n} acks counted in ${Math.round(ms - 300)} ms)`);
});

test.run();
