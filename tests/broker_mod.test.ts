import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';
import { parseBrokerArgs } from '../broker/main.ts';
import { startBroker } from '../broker/mod.ts';
import { readReturnsWholeBuffer, wholeReads } from '../broker/whole_reads.ts';

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error) => err,
  );
}

// ---

test('a WebSocket client at /mqtt receives what a TCP client publishes', async () => {
  const b = await startBroker({ port: 0, wsPort: 0 });
  assert.match(b.wsUrl!, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
  assert.is(b.mqttUrl, `mqtt://127.0.0.1:${b.port}`);
  const browser = await mqtt.connectAsync(b.wsUrl!, { reconnectPeriod: 0 });
  const node = await mqtt.connectAsync(b.mqttUrl, { reconnectPeriod: 0 });
  try {
    await browser.subscribeAsync('nuvem/files/#', { qos: 1 });
    const got = new Promise<string>((resolve) => browser.once('message', (topic, payload) => resolve(`${topic} ${payload}`)));
    await node.publishAsync('nuvem/files/a%2Bb', '{"op":"put"}', { qos: 1 });
    assert.is(await got, 'nuvem/files/a%2Bb {"op":"put"}');

    const plain = await fetch(`http://127.0.0.1:${b.wsPort}/mqtt`);
    assert.is(plain.status, 426);
    assert.is((await plain.json()).error, 'upgrade_required');
    assert.is((await fetch(`http://127.0.0.1:${b.wsPort}/`)).status, 404);
  } finally {
    await Promise.all([browser.endAsync(true), node.endAsync(true)]);
    await b.close();
  }
});

test('each MQTT packet goes out as one WebSocket frame', async () => {
  const b = await startBroker({ port: 0, wsPort: 0 });
  const ws = new WebSocket(b.wsUrl!, ['mqtt']);
  try {
    await once(ws, 'open');
    assert.is(ws.protocol, 'mqtt');
    const connect = [0x10, 0x0d, 0, 4, ...Buffer.from('MQTT'), 4, 0x02, 0, 60, 0, 1, 0x61]; // MQTT 3.1.1 CONNECT, client id "a"
    ws.send(Buffer.from(connect));
    const [frame] = (await once(ws, 'message')) as [Buffer];
    assert.equal([...frame], [0x20, 0x02, 0x00, 0x00], 'the whole CONNACK in one frame');
  } finally {
    ws.terminate();
    await b.close();
  }
});

test('close() disconnects clients and frees both ports at once', async () => {
  const first = await startBroker({ port: 0, wsPort: 0 });
  const tcp = await mqtt.connectAsync(first.mqttUrl, { reconnectPeriod: 0 });
  const ws = await mqtt.connectAsync(first.wsUrl!, { reconnectPeriod: 0 });
  const closed = Promise.all([tcp, ws].map((c) => new Promise<void>((resolve) => c.once('close', () => resolve()))));
  const t0 = Date.now();
  await first.close();
  const took = Date.now() - t0;
  assert.ok(took < 1000, `close took ${took} ms`);
  await closed;
  await first.close(); // twice is fine

  const second = await startBroker({ port: first.port, wsPort: first.wsPort });
  assert.is(second.port, first.port);
  assert.is(second.wsPort, first.wsPort);
  await second.close();
});

test('a port in use names the option to change, and leaves nothing listening', async () => {
  const a = await startBroker({ port: 0, wsPort: 0 });
  try {
    const tcpErr = await rejection(startBroker({ port: a.port, wsPort: false }));
    assert.match(tcpErr.message, new RegExp(`Port ${a.port} on 127\\.0\\.0\\.1 is already in use; choose another with --port`));
    const wsErr = await rejection(startBroker({ port: 0, wsPort: a.wsPort }));
    assert.match(wsErr.message, /already in use; choose another with --ws-port/);
  } finally {
    await a.close();
  }
});

test('beyond loopback a token is required; a read token needs a token', async () => {
  const exposed = await rejection(startBroker({ host: '0.0.0.0', port: 0, wsPort: false }));
  assert.is(exposed.name, 'UsageError');
  assert.match(exposed.message, /Refusing to listen on 0\.0\.0\.0 without a token/);
  const readOnly = await rejection(startBroker({ port: 0, wsPort: false, readToken: 'r' }));
  assert.match(readOnly.message, /--read-token without --token/);
  const same = await rejection(startBroker({ port: 0, wsPort: false, token: 't', readToken: 't' }));
  assert.match(same.message, /same value/);
  const prefix = await rejection(startBroker({ port: 0, wsPort: false, prefix: 'a/#' }));
  assert.match(prefix.message, /prefix/);
});

test('command-line flags', () => {
  assert.equal(parseBrokerArgs([], {}), { host: '127.0.0.1', port: 1883, wsPort: 8083, token: undefined, readToken: undefined, logLevel: 'info' });
  assert.equal(
    parseBrokerArgs(['--port', '0', '--ws-port', '9001', '--host', '::1', '--read-token', 'r', '--log-level', 'debug'], { NUVEM_TOKEN: 't' }),
    { host: '::1', port: 0, wsPort: 9001, token: 't', readToken: 'r', logLevel: 'debug' },
  );
  const bad: [string[], RegExp][] = [
    [['--port', '70000'], /--port "70000"/],
    [['--port', '-1'], /--port/],
    [['--ws-port', 'x'], /--ws-port "x"/],
    [['--log-level', 'loud'], /--log-level "loud"/],
    [['--nodes', '3'], /Unknown option '--nodes'/],
    [['extra'], /positional/i],
    [['--token', ''], /empty --token/],
  ];
  for (const [argv, reason] of bad) {
    assert.throws(() => parseBrokerArgs(argv, {}), (err: Error) => err.name === 'UsageError' && reason.test(err.message), argv.join(' '));
  }
});

test('`tsx broker/main.ts` logs one JSON line and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'broker/main.ts', '--port', '0', '--ws-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NO_COLOR' && k !== 'FORCE_COLOR')),
  });
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const entry = JSON.parse(line);
    assert.is(entry.level, 'info');
    assert.is(entry.msg, 'broker listening');
    assert.match(entry.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.match(entry.ws, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const client = await mqtt.connectAsync(entry.mqtt, { reconnectPeriod: 0 });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.is(code, 0);
    await client.endAsync(true);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('wholeReads leaves a stream alone under Node and, where read() gives one chunk, returns them all', () => {
  assert.ok(readReturnsWholeBuffer, 'Node returns the whole buffer');
  const untouched = new Readable({ read() {} });
  assert.is(wholeReads(untouched), untouched);
  assert.is(untouched.read, Readable.prototype.read);

  // A stream whose size-less read() hands out one chunk at a time, as Deno 2.9's does.
  const oneAtATime = new Readable({ read() {} });
  const sizes: number[] = [];
  const push = (bytes: number[]) => {
    sizes.push(bytes.length);
    oneAtATime.push(Buffer.from(bytes));
  };
  oneAtATime.read = function (size?: number) {
    if (size !== undefined) return Readable.prototype.read.call(this, size);
    const first = sizes.shift();
    return first === undefined ? Readable.prototype.read.call(this) : Readable.prototype.read.call(this, first);
  };
  push([1]);
  push([2, 3]);
  push([4, 5, 6]);
  assert.equal([...oneAtATime.read()], [1], 'the stand-in really hands out one chunk');
  wholeReads(oneAtATime, true);
  assert.equal([...(oneAtATime.read() as Buffer)], [2, 3, 4, 5, 6]);
  assert.is(oneAtATime.read(), null);
  push([7, 8]);
  assert.equal([...(oneAtATime.read(1) as Buffer)], [7], 'a read with a size is passed through');
});

test.run();
