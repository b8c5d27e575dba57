/**
 * `nuvem node --embedded-broker`: the node runs the broker itself on the port
 * of its `--broker` URL, publishes its status there, and frees that port when
 * it stops.
 */
import { createServer } from 'node:net';
import mqtt from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from './_support/ports.ts';
import { startNodeProcess } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

test('node --embedded-broker: its status is retained on its own broker; the port is free after it stops', async () => {
  const dir = tempDir('embedded-broker');
  const mqttPort = await freePort();
  const node = await startNodeProcess({ dataDir: dir.path, args: ['--embedded-broker', '--broker', `mqtt://127.0.0.1:${mqttPort}`] });
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0, connectTimeout: 3000 });
    const status = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no status within 5 s:\n${node.output.join('\n')}`)), 5000);
      client.on('message', (_topic, payload) => {
        const body = JSON.parse(payload.toString());
        if (body.url !== node.url || body.state !== 'online') return;
        clearTimeout(timer);
        resolve(body);
      });
      void client.subscribeAsync('nuvem/nodes/+/status', { qos: 1 });
    });
    assert.is(status.url, node.url);
    await client.endAsync(true);
    await node.stop();
    assert.is(node.child.exitCode, 0, node.output.join('\n'));
    assert.ok(await canListen(mqttPort), `port ${mqttPort} is free once the node has stopped`);
  } finally {
    await node.kill();
    dir.cleanup();
  }
});

test.run();
