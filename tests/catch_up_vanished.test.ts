/**
 * A silently vanished peer stalls no catch-up (issue 16, item 7): the peer
 * ranked first for an origin's changes takes the connection and never
 * answers, yet the node catching up gets the changes from a reachable peer
 * while that request is still open, and asks the silent one last afterwards.
 *
 * Three real nodes and the real broker: node-2 is down while node-1 writes
 * (node-3 applies the writes), then node-1 is killed and something else
 * takes its place as node-1: its status, online and fresh on the broker,
 * points at a server that answers `/status` with the id `node-1` (so it is a
 * verified member, and as the origin it ranks first) and takes every other
 * request without answering, as a host cut off the network would. Node-2
 * runs with `--peer-answer-ms 60000`, so a catch-up that waited for that
 * server would wait a minute: node-2's applied vector (which only catch-up
 * moves here; anti-entropy never does) must reach node-1's seq while the
 * silent server still holds the request, well within the minute.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster, type Cluster } from './_support/cluster.ts';
import { until } from './_support/sleep.ts';

const FILES = 20;

/** An HTTP server posing as node-1: `/status` answers, every other request is held open. */
async function silentOrigin() {
  const held: { path: string; req: IncomingMessage; res: ServerResponse; closed: boolean }[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'node-1' }));
      return;
    }
    const h = { path: req.url ?? '', req, res, closed: false };
    req.socket.once('close', () => (h.closed = true));
    held.push(h);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

test('catch-up gets an origin\'s changes from a reachable peer while the origin\'s stand-in holds the request unanswered', async () => {
  let cluster: Cluster | undefined;
  const silent = await silentOrigin();
  const impostor = { client: undefined as mqtt.MqttClient | undefined, timer: undefined as ReturnType<typeof setInterval> | undefined };
  try {
    cluster = await startCluster({ nodes: 3, antiEntropyMs: 3_600_000, nodeArgs: ['--peer-answer-ms', '60000'], label: 'catch-up-vanished' });
    const c = cluster;
    await c.waitMesh();
    await c.kill(2);
    const bodies = Array.from({ length: FILES }, (_, i) => `file ${i} written while node-2 was down\n`.repeat(i + 1));
    for (let i = 0; i < FILES; i++) {
      const res = await c.put(1, `vanished/f${i}.txt`, bodies[i], { w: 2 });
      assert.is(res.status, 201, res.body.toString());
    }
    const seq = (await c.request(1, '/status')).json.seq as number;
    assert.ok(seq >= FILES);
    await until('node-3 applied node-1\'s writes', async () => ((await c.request(3, '/status')).json.applied?.['node-1'] ?? 0) >= seq, 20_000);
    await c.kill(1);

    // node-1's stand-in: online, fresh, at the silent server's URL.
    const client = await mqtt.connectAsync(c.brokerUrl, { clientId: 'stand-in-node-1', reconnectPeriod: 0 });
    impostor.client = client;
    const startedAt = Date.now();
    const publish = () => client.publish('nuvem/nodes/node-1/status', JSON.stringify({
      id: 'node-1', url: silent.url, state: 'online', ts: Date.now(), startedAt, heartbeatMs: 1000,
      seq, applied: {}, lag: 0, files: FILES, bytes: 0, disk: { free: 1, total: 1 }, inflight: 0, version: '0.1.0',
    }), { qos: 1, retain: true });
    publish();
    impostor.timer = setInterval(publish, 300);
    await until('node-3 sees the stand-in as node-1', async () => {
      const m = ((await c.request(3, '/members')).json.members as { id: string; url: string; state: string }[]).find((x) => x.id === 'node-1');
      return m?.url === silent.url && m.state === 'online';
    });

    await c.restart(2);
    // Within half the minute the stand-in's request may be held: catch-up did not wait for it.
    await until('node-2 caught up with node-1\'s changes', async () => ((await c.request(2, '/status')).json.applied?.['node-1'] ?? 0) >= seq, 30_000);
    assert.ok(silent.held.some((h) => h.path.startsWith('/internal/log?origin=node-1')), 'the stand-in, ranked first, was asked for node-1\'s log');
    for (let i = 0; i < FILES; i++) {
      const got = await c.get(2, `vanished/f${i}.txt`);
      assert.is(got.status, 200);
      assert.is(sha256(got.body), sha256(bodies[i]));
    }
    // The request still open when another peer's page won is aborted, not left to its minute.
    await until('the stand-in\'s log requests closed', () => silent.held.filter((h) => h.path.startsWith('/internal/log')).every((h) => h.closed), 10_000);
    assert.ok(await c.metric(2, 'nuvem_catch_up_changes_total') >= FILES);
  } finally {
    clearInterval(impostor.timer);
    await impostor.client?.endAsync(true).catch(() => {});
    await cluster?.close();
    await silent.close();
  }
});

test.run();
