// The broker's ACL (broker/auth.ts) through `broker.handle()` on an in-memory
// duplex pair (tests/_support/broker_pair.ts): no socket, no port. The
// listeners are tested over TCP in broker_auth.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pairBroker, type PairBroker, type PairClient } from './_support/broker_pair.ts';
import { nodeCredential } from '../protocol/credentials.ts';
import { parseStatusMessage } from '../protocol/messages.ts';
import { statusTopic } from '../protocol/topics.ts';
import type { AuthOptions } from '../broker/auth.ts';
import { statusPayload } from './_support/status.ts';

const TOKEN = 'node-secret';
const READ = 'read-secret';
const NODE_TOKEN = 'nodes-only-secret';

/** CONNACK return codes (MQTT 3.1.1) and the SUBACK code for a refused subscription. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
const SUBACK_FAILURE = 0x80;

async function withPair(options: Omit<AuthOptions, 'log'>, fn: (pair: PairBroker) => Promise<void>) {
  const pair = await pairBroker(options);
  try {
    await fn(pair);
  } finally {
    await pair.close();
  }
}

/** The granted list of the SUBACK answering one SUBSCRIBE (QoS 1, so a refusal is 0x80, not 1). */
async function granted(c: PairClient, filter: string): Promise<number[]> {
  const before = c.packets.length;
  await new Promise<void>((resolve) => c.client.subscribe(filter, { qos: 1 }, () => resolve()));
  const suback = c.packets.slice(before).find((p) => p.cmd === 'suback') as { granted: number[] } | undefined;
  assert.ok(suback, `no SUBACK for ${filter}`);
  return suback.granted;
}

const status = statusPayload;

// ---

test('a node publishes its own status; publishing another node\'s closes its connection', async () => {
  await withPair({ token: TOKEN, readToken: READ }, async (pair) => {
    const reader = await pair.connect({ username: 'dashboard', password: READ });
    const n1 = await pair.connect({ clientId: 'nuvem-node-n1', username: 'n1', password: TOKEN });
    const n3 = await pair.connect({ clientId: 'nuvem-node-n3', username: 'n3', password: TOKEN });
    assert.equal(await granted(reader, 'nuvem/#'), [1]);

    const own = reader.next(statusTopic('n1'));
    await n1.client.publishAsync(statusTopic('n1'), status('n1', 'online'), { qos: 1 });
    assert.ok(parseStatusMessage((await own).payload).ok);

    n1.client.publish(statusTopic('n2'), status('n2', 'offline'), { qos: 0 });
    await n1.closed();
    await n3.client.publishAsync('nuvem/files/marker', '{}', { qos: 1 });
    await reader.next('nuvem/files/marker');
    assert.equal(reader.seen.map((m) => m.topic), [statusTopic('n1'), 'nuvem/files/marker']);
  });
});

test('a reader subscribes under the prefix; outside it gets SUBACK 0x80 and stays connected', async () => {
  await withPair({ token: TOKEN, readToken: READ }, async (pair) => {
    const reader = await pair.connect({ username: 'dashboard', password: READ });
    const n1 = await pair.connect({ username: 'n1', password: TOKEN });
    assert.equal(await granted(reader, 'nuvem/nodes/+/status'), [1]);
    assert.equal(await granted(reader, '#'), [SUBACK_FAILURE]);
    assert.equal(await granted(reader, '$SYS/#'), [SUBACK_FAILURE]);
    assert.equal(await granted(reader, 'elsewhere/topic'), [SUBACK_FAILURE]);

    await n1.client.publishAsync('elsewhere/topic', 'x', { qos: 1 });
    await n1.client.publishAsync(statusTopic('n1'), status('n1', 'online'), { qos: 1 });
    await reader.next(statusTopic('n1'));
    assert.equal(reader.seen.map((m) => m.topic), [statusTopic('n1')]);
    assert.ok(reader.client.connected, 'a refused subscription leaves the connection open');
  });
});

test('a reader that publishes is closed, and its message goes nowhere', async () => {
  await withPair({ token: TOKEN, readToken: READ }, async (pair) => {
    const reader = await pair.connect({ username: 'dashboard', password: READ });
    const n1 = await pair.connect({ username: 'n1', password: TOKEN });
    assert.equal(await granted(n1, 'nuvem/#'), [1]);

    reader.client.publish('nuvem/files/x', JSON.stringify({ path: 'x', origin: 'n1', seq: 1 }), { qos: 0 });
    await reader.closed();
    await n1.client.publishAsync('nuvem/files/marker', '{}', { qos: 1 });
    await n1.next('nuvem/files/marker');
    assert.equal(n1.seen.map((m) => m.topic), ['nuvem/files/marker']);
  });
});

test('with a node token, the cluster token makes a client that subscribes only', async () => {
  await withPair({ token: TOKEN, nodeToken: NODE_TOKEN }, async (pair) => {
    const client = await pair.connect({ username: 'client', password: TOKEN });
    const n1 = await pair.connect({ username: 'n1', password: nodeCredential(NODE_TOKEN, 'n1') });
    assert.equal(await granted(client, 'nuvem/#'), [1]);
    assert.equal(await granted(client, '#'), [SUBACK_FAILURE]);
    assert.equal(await granted(n1, 'nuvem/files/#'), [1]);

    const got = client.next('nuvem/files/a.txt');
    await n1.client.publishAsync('nuvem/files/a.txt', JSON.stringify({ path: 'a.txt', origin: 'n1', seq: 1 }), { qos: 1 });
    await got;

    client.client.publish('nuvem/files/b.txt', JSON.stringify({ path: 'b.txt', origin: 'n1', seq: 2 }), { qos: 0 });
    await client.closed();
    await n1.client.publishAsync('nuvem/files/marker', '{}', { qos: 1 });
    await n1.next('nuvem/files/marker');
    assert.equal(n1.seen.map((m) => m.topic), ['nuvem/files/a.txt', 'nuvem/files/marker']);
  });
});

test('with a node token, a node connects with its own credential; another id\'s credential gets CONNACK 4', async () => {
  await withPair({ token: TOKEN, nodeToken: NODE_TOKEN }, async (pair) => {
    const n1 = await pair.connect({ username: 'n1', password: nodeCredential(NODE_TOKEN, 'n1') });
    assert.equal(n1.packets.map((p) => p.cmd), ['connack']);
    assert.is(await pair.refused({ username: 'n2', password: nodeCredential(NODE_TOKEN, 'n1') }), BAD_USERNAME_OR_PASSWORD);
    assert.is(await pair.refused({ username: 'n1', password: NODE_TOKEN }), BAD_USERNAME_OR_PASSWORD);
    assert.is(await pair.refused({ username: 'n1', password: nodeCredential('another secret', 'n1') }), BAD_USERNAME_OR_PASSWORD);
    assert.is(await pair.refused({ username: 'n1' }), NOT_AUTHORIZED);
    assert.is(await pair.refused({ clientId: 'nuvem-node-n1', username: 'client', password: TOKEN }), NOT_AUTHORIZED);

    // The credential lets n1 act as n1, not as n2.
    const watcher = await pair.connect({ username: 'client', password: TOKEN });
    assert.equal(await granted(watcher, 'nuvem/#'), [1]);
    await n1.client.publishAsync(statusTopic('n1'), status('n1', 'online'), { qos: 1 });
    await watcher.next(statusTopic('n1'));
    n1.client.publish(statusTopic('n2'), status('n2', 'online'), { qos: 0 });
    await n1.closed();
    assert.equal(watcher.seen.map((m) => m.topic), [statusTopic('n1')]);
  });
});

test('a payload naming another node closes the connection, on the node\'s own topics too', async () => {
  await withPair({ token: TOKEN }, async (pair) => {
    const watcher = await pair.connect({ username: 'n9', password: TOKEN });
    assert.equal(await granted(watcher, 'nuvem/#'), [1]);
    const forged: [string, string][] = [
      [statusTopic('n1'), status('n2', 'online')], // its own topic, another's id
      ['nuvem/files/a.txt', JSON.stringify({ path: 'a.txt', origin: 'n2', seq: 1 })],
      ['nuvem/acks/n2', JSON.stringify({ node: 'n2', origin: 'n2', seq: 1 })],
    ];
    for (const [topic, payload] of forged) {
      const n1 = await pair.connect({ username: 'n1', password: TOKEN });
      n1.client.publish(topic, payload, { qos: 0 });
      await n1.closed();
    }
    const n1 = await pair.connect({ username: 'n1', password: TOKEN });
    await n1.client.publishAsync('nuvem/files/b.txt', JSON.stringify({ path: 'b.txt', origin: 'n1', seq: 1 }), { qos: 1 });
    await watcher.next('nuvem/files/b.txt');
    assert.equal(watcher.seen.map((m) => m.topic), ['nuvem/files/b.txt']);
    assert.ok(n1.client.connected, 'its own name is fine');
  });
});

test.run();
