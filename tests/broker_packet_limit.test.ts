/** The broker closes a connection whose packet declares more than its limit, before buffering it (broker/packet_limit.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import mqtt from 'mqtt';
import { startBroker } from '../broker/mod.ts';
import { PacketSizes } from '../broker/packet_limit.ts';

/** An MQTT remaining length as its 1–4 bytes. */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

test('fixed headers are followed across chunk boundaries', () => {
  const sizes = new PacketSizes(1000);
  const small = [0x30, ...remainingLength(500), ...new Array(500).fill(1)];
  const big = [0x30, ...remainingLength(200_000)];
  const stream = Uint8Array.from([...small, ...small, 0xc0, 0x00, ...big]);
  assert.is(sizes.feed(stream.subarray(0, 7)), undefined);
  assert.is(sizes.feed(stream.subarray(7, 1003)), undefined);
  assert.is(sizes.feed(stream.subarray(1003, 1005)), undefined); // PINGREQ, no body
  assert.is(sizes.feed(stream.subarray(1005, 1007)), undefined); // mid remaining length
  assert.is(sizes.feed(stream.subarray(1007)), 200_000);
});

test('a packet over the limit closes its connection before its body arrives; others are served', async () => {
  const broker = await startBroker({ port: 0, wsPort: false, maxPacketBytes: 64 * 1024 });
  try {
    // CONNECT (MQTT 3.1.1, client id "x"), then a PUBLISH declaring 10 MiB.
    const connectPacket = Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 1, 0x78]);
    const socket = connect(broker.port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(connectPacket);
    await new Promise<void>((r) => socket.once('data', () => r())); // CONNACK
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(Buffer.from([0x30, ...remainingLength(10 * 1024 * 1024), 0, 1, 0x74]));
    socket.on('error', () => {});
    const sent = Buffer.alloc(256 * 1024);
    let wrote = 0;
    const pump = setInterval(() => {
      if (!socket.destroyed && wrote < 4 * 1024 * 1024) {
        socket.write(sent);
        wrote += sent.length;
      }
    }, 5);
    await closed;
    clearInterval(pump);
    assert.ok(wrote < 4 * 1024 * 1024, `closed after ${wrote} bytes of the body`);
    // A well-behaved client still publishes and receives.
    const client = await mqtt.connectAsync(broker.mqttUrl);
    await client.subscribeAsync('t');
    const got = new Promise<string>((r) => client.once('message', (_t, p) => r(p.toString())));
    await client.publishAsync('t', 'x'.repeat(60 * 1024));
    assert.is((await got).length, 60 * 1024);
    await client.endAsync();
  } finally {
    await broker.close();
  }
});

test.run();
