/**
 * A silently vanished peer stalls nobody (issue 16, item 7): peers are asked
 * at once, a peer's answer must begin within 3 s, and a peer that keeps
 * failing is skipped while it cools (peer_backoff.ts, shared with catch-up).
 */
import { createServer, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startAntiEntropy } from '../nodes/anti_entropy.ts';
import type { Member } from '../nodes/membership.ts';
import { PeerBackoff } from '../nodes/peer_backoff.ts';
import { PeerGets } from '../nodes/peers.ts';
import type { Replicator } from '../nodes/replicator.ts';
import { Store } from '../nodes/store.ts';
import { Metrics } from '../protocol/metrics.ts';
import { tempDir } from './_support/temp.ts';
import { sleep } from './_support/sleep.ts';

test('a peer that accepts the connection and never answers fails in seconds, not 30', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s)); // takes the connection, says nothing
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  const gets = new PeerGets({ isMemberUrl: () => true });
  try {
    const started = performance.now();
    const err = await gets.get({ id: 'gone', url, receivedAt: 0, verified: true }, '/internal/digest').then(() => undefined, (e) => e);
    const ms = performance.now() - started;
    assert.ok(err, 'answered');
    assert.ok(ms < 10_000, `failed after ${ms.toFixed(0)} ms`);
  } finally {
    gets.close();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('anti-entropy repairs from a good peer while another hangs, and backs off from the one that keeps failing', async () => {
  const dirs = [tempDir('ae-me'), tempDir('ae-peer')];
  const me = await Store.open({ dataDir: dirs[0].path, nodeId: 'me' });
  const peer = await Store.open({ dataDir: dirs[1].path, nodeId: 'good' });
  try {
    await peer.put('from-good.txt', (async function* () { yield new TextEncoder().encode('repaired'); })());
    const good: Member = { id: 'good', url: 'http://good.invalid', receivedAt: 0, verified: true };
    const gone: Member = { id: 'gone', url: 'http://gone.invalid', receivedAt: 0, verified: true };
    let goneAsked = 0;
    let clock = 1_000_000;
    const backoff = new PeerBackoff({ now: () => clock });
    const replicator = {
      backoff,
      connected: false,
      isOnline: () => false,
      peersForRepair: () => [gone, good],
      membership: { known: () => [] },
      catchUpAll: () => {},
      publishEvent: () => {},
      get: async (m: Member, target: string) => {
        if (m.id === 'gone') {
          goneAsked++;
          await sleep(1500); // as a vanished host, until the answer timeout
          throw new Error('no answer');
        }
        return target === '/internal/digest'
          ? Response.json({ buckets: await peer.digest() })
          : Response.json({ records: await peer.bucketRecords(Number(target.split('/').pop())) });
      },
      contentSource: (sha: string) => async () => (await peer.openContent(sha))!.body as unknown as AsyncIterable<Uint8Array>,
    } as unknown as Replicator;
    const ae = startAntiEntropy({ store: me, replicator, intervalMs: 3_600_000, log: () => {}, metrics: new Metrics() });
    ae.stop();
    const pass = ae.runOnce();
    await sleep(700);
    assert.is(me.get('from-good.txt')?.sha256, peer.get('from-good.txt')?.sha256, 'repaired while the other peer hangs');
    assert.is(await pass, 1);
    await ae.runOnce(); // cooling 2 s after its first failure: skipped
    assert.is(goneAsked, 1);
    clock += 2000;
    await ae.runOnce(); // asked again, fails again: cooling 4 s
    clock += 2000;
    await ae.runOnce();
    assert.is(goneAsked, 2);
    backoff.clear('gone'); // a heartbeat shows it back
    await ae.runOnce();
    assert.is(goneAsked, 3);
  } finally {
    me.close();
    peer.close();
    for (const d of dirs) d.cleanup();
  }
});

test.run();
