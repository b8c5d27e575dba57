/**
 * Members coming and going are announced on `nuvem/events/{id}` (DESIGN.md
 * section 2's event list): a node that sees a member it never knew
 * publishes `joined`; forgetting a member (`DELETE /members/{id}`, or its
 * TTL) publishes `left` with the reason. A member remembered from before a
 * restart is not announced again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from './_support/cluster.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { startNodeProcess } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';

test('a new member is announced as joined by each node that sees it; forgetting it is announced as left', async () => {
  const c = await startCluster({ nodes: 2, label: 'member-events' });
  const watch = await watchTopics(c.brokerUrl, ['nuvem/events/+']);
  const dir = tempDir('member-events-new');
  const newcomer = await startNodeProcess({ dataDir: dir.path, args: ['--id', 'node-new', '--broker', c.brokerUrl] });
  try {
    for (const k of c.ks) {
      const m = await watch.waitFor((e) => e.json?.type === 'joined' && e.json.node === c.id(k) && e.json.member === 'node-new', { timeoutMs: 10_000, what: `${c.id(k)} announcing node-new` });
      assert.is(m.topic, `nuvem/events/${c.id(k)}`);
      assert.is(m.json.url, newcomer.url);
    }
    assert.ok(!watch.seen.some((e) => e.json?.type === 'joined' && e.json.member === 'node-1' && e.json.node === 'node-2' && e.json.ts > Date.now() - 2000), 'members known since start are not announced again');
    await newcomer.stop();
    const restarted = watch.seen.length;
    await c.kill(2);
    await c.restart(2);
    await c.waitMesh();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!watch.seen.slice(restarted).some((e) => e.json?.type === 'joined' && e.json.node === 'node-2'), 'a member remembered across a restart is not announced again');
    const forgot = await c.request(1, '/members/node-new', { method: 'DELETE' });
    assert.is(forgot.status, 200, forgot.body.toString());
    const left = await watch.waitFor((e) => e.json?.type === 'left' && e.json.member === 'node-new' && e.json.node === 'node-1', { timeoutMs: 5000, what: 'node-1 announcing node-new left' });
    assert.is(left.json.reason, 'forgotten');
  } finally {
    await newcomer.stop();
    await watch.close();
    await c.close();
    dir.cleanup();
  }
});

test.run();
