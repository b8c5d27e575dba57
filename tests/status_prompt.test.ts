// DESIGN §4: the status is published every heartbeat "and promptly on change":
// a write shows up in the node's retained status long before the next heartbeat.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBroker } from '../broker/mod.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { startNodeProcess } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';

test('a change is announced in the status within a second, with a 10 s heartbeat', async () => {
  const broker = await startBroker({ port: 0, wsPort: false });
  const dir = tempDir('status-prompt');
  const node = await startNodeProcess({ dataDir: dir.path, args: ['--id', 'prompt-1', '--broker', broker.mqttUrl, '--heartbeat-ms', '10000'] });
  const watch = await watchTopics(broker.mqttUrl, ['nuvem/nodes/prompt-1/status']);
  try {
    await watch.waitFor((m) => m.json?.state === 'online', { timeoutMs: 15_000, what: 'a first online status' });
    const since = watch.seen.length;
    const res = await fetch(`${node.url}/files/prompt.txt`, { method: 'PUT', body: 'x' });
    assert.is(res.status, 201);
    const wrote = performance.now();
    const seen = await watch.waitFor((m) => m.json?.seq >= 1, { since, timeoutMs: 5000, what: 'a status with seq 1' });
    assert.ok(seen.at - wrote < 1000, `status came ${Math.round(seen.at - wrote)} ms after the write`);
  } finally {
    await watch.close();
    await node.stop();
    await broker.close();
  }
});

test.run();
