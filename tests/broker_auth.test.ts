import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { payloadRefusal, publishRefusal, subscribeRefusal, type Role } from '../broker/auth.ts';
import { parseStatusMessage } from '../protocol/messages.ts';
import { startBroker, type RunningBroker } from '../broker/mod.ts';
import { nodeCredential } from '../protocol/credentials.ts';
import { statusTopic } from '../protocol/topics.ts';
import { statusPayload } from './_support/status.ts';

const TOKEN = 'node-secret';
const READ = 'read-secret';

type Message = { topic: string; payload: string };

/** A client that records every message; `next` waits for one matching topic. */
async function connect(url: string, options: IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000, ...options });
  const seen: Message[] = [];
  const waiters: { topic: string; resolve: (m: Message) => void }[] = [];
  client.on('message', (topic, payload) => {
    const m = { topic, payload: payload.toString() };
    seen.push(m);
    for (const w of waiters.filter((w) => w.topic === topic)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const next = (topic: string, ms = 2000) =>
    new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${ms} ms`)), ms);
      waiters.push({ topic, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  return { client, seen, next };
}

const closedBy = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()));

async function withBroker(options: { token?: string; readToken?: string; nodeToken?: string }, fn: (b: RunningBroker, ends: MqttClient[]) => Promise<void>) {
  const broker = await startBroker({ port: 0, wsPort: false, ...options });
  const ends: MqttClient[] = [];
  try {
    await fn(broker, ends);
  } finally {
    await Promise.all(ends.map((c) => c.endAsync(true).catch(() => {})));
    await broker.close();
  }
}

const status = statusPayload;

// ---

test('without credentials, or with a wrong token, CONNECT is refused', async () => {
  await withBroker({ token: TOKEN, readToken: READ }, async (b) => {
    const refusals: [IClientOptions, RegExp][] = [
      [{}, /Not authorized/i],
      [{ username: 'n1' }, /Not authorized/i],
      [{ username: 'n1', password: 'guess' }, /Bad username or password/i],
      [{ username: 'n1', password: TOKEN.slice(0, -1) }, /Bad username or password/i],
      [{ username: '', password: TOKEN }, /Bad username or password/i], // a node must say who it is
      [{ username: 'Not An Id', password: TOKEN }, /Bad username or password/i],
      [{ clientId: 'nuvem-node-n1', username: 'dashboard', password: READ }, /Not authorized/i], // a reader may not take over a node's session
    ];
    for (const [options, reason] of refusals) {
      const err = await mqtt.connectAsync(b.mqttUrl, { reconnectPeriod: 0, ...options }).then(
        (c) => (c.end(true), undefined),
        (e: Error) => e,
      );
      assert.ok(err, `connected with ${JSON.stringify(options)}`);
      assert.match(err!.message, reason);
    }
  });
});

test('with a node token, the cluster token makes a client that only subscribes; each node acts only as itself', async () => {
  const NODE_TOKEN = 'nodes-only-secret';
  await withBroker({ token: TOKEN, nodeToken: NODE_TOKEN }, async (b, ends) => {
    const client = await connect(b.mqttUrl, { username: 'client', password: TOKEN });
    const n1 = await connect(b.mqttUrl, { username: 'n1', password: nodeCredential(NODE_TOKEN, 'n1') });
    ends.push(client.client, n1.client);
    await client.client.subscribeAsync('nuvem/#', { qos: 1 });
    const got = client.next('nuvem/files/a.txt');
    await n1.client.publishAsync('nuvem/files/a.txt', JSON.stringify({ path: 'a.txt', origin: 'n1', seq: 1 }), { qos: 1 });
    await got;
    const closed = closedBy(client.client);
    client.client.publish('nuvem/files/b.txt', JSON.stringify({ path: 'b.txt', origin: 'n1', seq: 2 }), { qos: 0 });
    await closed;
    for (const [options, reason] of [
      [{ username: 'n2', password: nodeCredential(NODE_TOKEN, 'n1') }, /bad user ?name or password/i],
      [{ username: 'n1', password: NODE_TOKEN }, /bad user ?name or password/i],
      [{ username: 'n1', password: nodeCredential('another secret', 'n1') }, /bad user ?name or password/i],
    ] as const) {
      const err = await mqtt.connectAsync(b.mqttUrl, { reconnectPeriod: 0, connectTimeout: 2000, ...options }).then((c) => (c.end(true), undefined), (e: Error) => e);
      assert.ok(err, `connected with ${JSON.stringify(options)}`);
      assert.match(err!.message, reason, `${JSON.stringify(options)}: ${err!.message}`);
    }
  });
});

test('a node may not publish a change or an ack in another node\'s name', async () => {
  await withBroker({ token: TOKEN }, async (b, ends) => {
    const watcher = await connect(b.mqttUrl, { username: 'n9', password: TOKEN });
    ends.push(watcher.client);
    await watcher.client.subscribeAsync('nuvem/#', { qos: 1 });
    const forged = [
      ['nuvem/files/a.txt', JSON.stringify({ path: 'a.txt', origin: 'n2', seq: 1 })],
      ['nuvem/acks/n2', JSON.stringify({ node: 'n2', origin: 'n2', seq: 1 })],
      [statusTopic('n1'), status('n2', 'online')],
    ];
    for (const [topic, payload] of forged) {
      const n1 = await connect(b.mqttUrl, { username: 'n1', password: TOKEN });
      ends.push(n1.client);
      const closed = closedBy(n1.client);
      n1.client.publish(topic, payload, { qos: 0 });
      await closed;
    }
    const n1 = await connect(b.mqttUrl, { username: 'n1', password: TOKEN });
    ends.push(n1.client);
    const own = watcher.next('nuvem/files/b.txt');
    await n1.client.publishAsync('nuvem/files/b.txt', JSON.stringify({ path: 'b.txt', origin: 'n1', seq: 1 }), { qos: 1 });
    await own;
    assert.equal(watcher.seen.map((m) => m.topic), ['nuvem/files/b.txt']);
  });
});

test('payloads naming another node are refused; others are left to the receivers', () => {
  const n1: Role = { kind: 'node', id: 'n1' };
  assert.type(payloadRefusal(n1, 'nuvem/files/a', '{"origin":"n2"}', 'nuvem'), 'string');
  assert.type(payloadRefusal(n1, 'nuvem/acks/n2', '{"node":"n2"}', 'nuvem'), 'string');
  assert.type(payloadRefusal(n1, 'nuvem/nodes/n1/status', '{"id":"n2"}', 'nuvem'), 'string');
  assert.is(payloadRefusal(n1, 'nuvem/files/a', '{"origin":"n1"}', 'nuvem'), undefined);
  assert.is(payloadRefusal(n1, 'nuvem/acks/n2', '{"node":"n1","origin":"n2"}', 'nuvem'), undefined);
  assert.is(payloadRefusal(n1, 'nuvem/files/a', 'not json', 'nuvem'), undefined);
  assert.is(payloadRefusal({ kind: 'anyone' }, 'nuvem/files/a', '{"origin":"n2"}', 'nuvem'), undefined);
});

test('a node publishes its own status, not another node\'s', async () => {
  await withBroker({ token: TOKEN, readToken: READ }, async (b, ends) => {
    const reader = await connect(b.mqttUrl, { username: 'dashboard', password: READ });
    const n1 = await connect(b.mqttUrl, { username: 'n1', password: TOKEN });
    const n3 = await connect(b.mqttUrl, { username: 'n3', password: TOKEN });
    ends.push(reader.client, n1.client, n3.client);
    await reader.client.subscribeAsync('nuvem/#', { qos: 1 });

    const own = reader.next(statusTopic('n1'));
    await n1.client.publishAsync(statusTopic('n1'), status('n1', 'online'), { qos: 1, retain: true });
    assert.ok(parseStatusMessage((await own).payload).ok);

    // Forbidden: the broker drops it and closes n1's connection (MQTT 3.1.1 cannot say no).
    const closed = closedBy(n1.client);
    n1.client.publish(statusTopic('n2'), status('n2', 'offline'), { qos: 0 });
    await closed;
    const marker = reader.next('nuvem/files/marker');
    await n3.client.publishAsync('nuvem/files/marker', '{}', { qos: 1 });
    await marker;
    assert.equal(reader.seen.map((m) => m.topic), [statusTopic('n1'), 'nuvem/files/marker']);
  });
});

test('a reader subscribes under nuvem/ and receives, but publishes nothing', async () => {
  await withBroker({ token: TOKEN, readToken: READ }, async (b, ends) => {
    const reader = await connect(b.mqttUrl, { username: 'dashboard', password: READ });
    const n1 = await connect(b.mqttUrl, { username: 'n1', password: TOKEN });
    ends.push(reader.client, n1.client);
    await reader.client.subscribeAsync('nuvem/#', { qos: 1 });
    const refusedSub = await reader.client.subscribeAsync('#').then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(refusedSub?.message ?? 'subscribed to #', /Subscribe error/);
    await n1.client.subscribeAsync('nuvem/files/#', { qos: 1 });

    const got = reader.next('nuvem/files/a.txt');
    await n1.client.publishAsync('nuvem/files/a.txt', '{"hello":1}', { qos: 1 });
    assert.is((await got).payload, '{"hello":1}');

    const closed = closedBy(reader.client);
    reader.client.publish('nuvem/files/x', '{"evil":true}', { qos: 0 });
    await closed;
    const marker = n1.next('nuvem/files/marker');
    await n1.client.publishAsync('nuvem/files/marker', '{}', { qos: 1 });
    await marker;
    assert.equal(n1.seen.map((m) => m.topic), ['nuvem/files/a.txt', 'nuvem/files/marker']);
  });
});

test('without tokens everything flows', async () => {
  await withBroker({}, async (b, ends) => {
    const sub = await connect(b.mqttUrl);
    const pub = await connect(b.mqttUrl, { username: 'whoever' });
    ends.push(sub.client, pub.client);
    await sub.client.subscribeAsync('#', { qos: 1 });
    const topics = [statusTopic('n2'), 'nuvem/files/x', 'nuvem/acks/n9', 'nuvem/events/n4', 'elsewhere/t'];
    for (const topic of topics) {
      const got = sub.next(topic);
      await pub.client.publishAsync(topic, 'x', { qos: 1 });
      await got;
    }
    assert.equal(sub.seen.map((m) => m.topic), topics);
  });
});

test('a node that dies is announced offline by its retained Last Will within 1 s', async () => {
  await withBroker({ token: TOKEN, readToken: READ }, async (b, ends) => {
    const topic = statusTopic('n1');
    const n1 = await connect(b.mqttUrl, {
      clientId: 'nuvem-node-n1',
      username: 'n1',
      password: TOKEN,
      will: { topic, payload: Buffer.from(status('n1', 'offline')), qos: 1, retain: true },
    });
    const watcher = await connect(b.mqttUrl, { username: 'dashboard', password: READ });
    ends.push(n1.client, watcher.client);
    await n1.client.publishAsync(topic, status('n1', 'online'), { qos: 1, retain: true });
    await watcher.client.subscribeAsync(topic, { qos: 1 });
    const retained = await watcher.next(topic);
    assert.is(JSON.parse(retained.payload).state, 'online');

    const offline = watcher.next(topic, 1000);
    const t0 = Date.now();
    n1.client.stream.destroy(); // no DISCONNECT: the process "died"
    const m = await offline;
    assert.is(JSON.parse(m.payload).state, 'offline');
    assert.ok(Date.now() - t0 < 1000);

    const late = await connect(b.mqttUrl, { username: 'dashboard', password: READ });
    ends.push(late.client);
    const again = late.next(topic);
    await late.client.subscribeAsync(topic, { qos: 1 });
    assert.is(JSON.parse((await again).payload).state, 'offline', 'the will is retained');
  });
});

test('publish and subscribe rules, as a table', () => {
  const node: Role = { kind: 'node', id: 'n1' };
  const reader: Role = { kind: 'reader' };
  const anyone: Role = { kind: 'anyone' };
  const allowed: [Role, string][] = [
    [node, 'nuvem/nodes/n1/status'],
    [node, 'nuvem/files/a/b.txt'],
    [node, 'nuvem/acks/n2'],
    [node, 'nuvem/events/n1'],
    [node, 'elsewhere/topic'],
    [anyone, 'nuvem/nodes/n2/status'],
  ];
  const refused: [Role | undefined, string][] = [
    [node, 'nuvem/nodes/n2/status'],
    [node, 'nuvem/nodes/n1'],
    [node, 'nuvem/events/n2'],
    [node, 'nuvem/files'],
    [node, 'nuvem/whatever/x'],
    [node, '$SYS/x'],
    [anyone, '$SYS/x'],
    [reader, 'nuvem/files/x'],
    [reader, 'elsewhere/topic'],
    [undefined, 'nuvem/files/x'],
  ];
  for (const [role, topic] of allowed) assert.is(publishRefusal(role, topic, 'nuvem'), undefined, `${role.kind} ${topic}`);
  for (const [role, topic] of refused) assert.type(publishRefusal(role, topic, 'nuvem'), 'string', `${role?.kind} ${topic}`);
  assert.is(subscribeRefusal(reader, 'nuvem/#', 'nuvem'), undefined);
  assert.is(subscribeRefusal(reader, 'nuvem/nodes/+/status', 'nuvem'), undefined);
  assert.type(subscribeRefusal(reader, '#', 'nuvem'), 'string');
  assert.type(subscribeRefusal(reader, '$SYS/#', 'nuvem'), 'string');
  assert.is(subscribeRefusal(node, '#', 'nuvem'), undefined);
});

test.run();
