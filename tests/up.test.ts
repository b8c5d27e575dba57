/**
 * `nuvem up` as a real child process (`node bin/nuvem.js up`, the built CLI):
 * a broker and two nodes on free loopback ports in a temp folder, a file
 * through node 1, the nodes' retained status on the broker, and a stop that
 * exits 0 and frees every port; a taken port fails the start with the flag
 * to change. Replication is not asserted here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseUpArgs } from '../nodes/up.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { freePorts } from './_support/ports.ts';
import { tempDir } from './_support/temp.ts';
import { UsageError } from '../protocol/errors.ts';
import { sleep } from './_support/sleep.ts';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  // A failed test must not leave a cluster behind: `up` runs in its own process group, nodes included.
  for (const child of live) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

interface Up {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

function startUp(args: string[]): Up {
  const child = spawn(process.execPath, ['bin/nuvem.js', 'up', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, NUVEM_TOKEN: '' },
  });
  live.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout, stderr, exited };
}

function output(up: Up): string {
  return `stdout:\n${up.stdout.join('\n')}\nstderr:\n${up.stderr.join('\n')}`;
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms: number, up?: Up): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${up ? `\n${output(up)}` : ''}`);
    await sleep(50);
  }
}

async function exitCodeWithin(up: Up, ms: number): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const code = await Promise.race([up.exited, late]);
  clearTimeout(timer);
  if (code === 'late') throw new Error(`up did not exit within ${ms} ms\n${output(up)}`);
  return code;
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (servers: Server[]) => Promise.all(servers.map((s) => new Promise((r) => s.close(r))));

/** Every port can be bound again. */
async function assertFree(ports: number[]): Promise<void> {
  for (const port of ports) {
    const server = await listen(port).catch((err: Error) => {
      throw new Error(`port ${port} is still in use after up exited: ${err.message}`);
    });
    await close([server]);
  }
}

function clusterReady(up: Up): { nodes: { id: string; url: string }[]; mqtt: string; dashboard: string } | undefined {
  const line = up.stdout.find((l) => l.includes('"cluster ready"'));
  return line ? JSON.parse(line) : undefined;
}

/** Statuses by node id, as a fresh subscriber receives them: retained ones only. */
async function retainedStatuses(mqttUrl: string, ids: string[], ms: number): Promise<Map<string, Record<string, unknown>>> {
  const seen = new Map<string, Record<string, unknown>>();
  const deadline = Date.now() + ms;
  // A node connects to the broker just after it listens: retry with a fresh subscriber until all are retained.
  while (Date.now() < deadline) {
    const client = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0, connectTimeout: 2000 });
    try {
      client.on('message', (topic, payload, packet) => {
        if (packet.retain) seen.set(topic.split('/')[2], JSON.parse(payload.toString()));
      });
      await client.subscribeAsync('nuvem/nodes/+/status', { qos: 1 });
      const wait = Date.now() + 500;
      while (Date.now() < wait && !ids.every((id) => seen.has(id))) await sleep(20);
      if (ids.every((id) => seen.has(id))) return seen;
    } finally {
      await client.endAsync(true);
    }
  }
  throw new Error(`retained status only for ${[...seen.keys()].join(', ') || 'no node'} within ${ms} ms`);
}

// ---

test('up: a broker and two nodes; a file through node 1; retained statuses; SIGINT stops everything and frees the ports', async () => {
  const dir = tempDir('up');
  const { base, others } = await freePorts(2, 2);
  const [mqttPort, wsPort] = others;
  const started = Date.now();
  const up = startUp(['--nodes', '2', '--data', dir.path, '--base-port', String(base), '--mqtt-port', String(mqttPort), '--ws-port', String(wsPort)]);
  try {
    const ready = await until(
      'cluster ready and its summary',
      () => {
        if (up.child.exitCode !== null) throw new Error(`up exited (${up.child.exitCode})\n${output(up)}`);
        return up.stderr.some((l) => l.includes('Ctrl-C')) ? clusterReady(up) : undefined;
      },
      30_000,
      up,
    );
    const startMs = Date.now() - started;
    const urls = [`http://127.0.0.1:${base}`, `http://127.0.0.1:${base + 1}`];
    assert.equal(ready.nodes, [{ id: 'node-1', url: urls[0] }, { id: 'node-2', url: urls[1] }]);
    assert.is(ready.mqtt, `mqtt://127.0.0.1:${mqttPort}`);
    assert.is(ready.dashboard, `${urls[0]}/`);
    const summary = up.stderr.join('\n');
    for (const url of [...urls, ready.mqtt, ready.dashboard]) assert.ok(summary.includes(url), `summary names ${url}:\n${summary}`);
    assert.ok(up.stdout.some((l) => l.startsWith('{"proc":"node-2",') && l.includes('"msg":"listening"')), 'node lines are tagged');

    for (const url of urls) {
      const health = await fetch(`${url}/health`);
      assert.is(health.status, 200, `${url}/health`);
      await health.arrayBuffer();
    }

    // w=1: only node 1's own commit; what node 2 does with the file is not this test's business.
    const put = await fetch(`${urls[0]}/files/up/hello.txt?w=1`, { method: 'PUT', body: 'hello from up' });
    assert.ok(put.status === 201 || put.status === 200, `PUT answered ${put.status}: ${await put.clone().text()}`);
    await put.arrayBuffer();
    const got = await fetch(`${urls[0]}/files/up/hello.txt`);
    assert.is(got.status, 200);
    assert.is(await got.text(), 'hello from up');

    const statuses = await retainedStatuses(ready.mqtt, ['node-1', 'node-2'], 8000);
    assert.is(statuses.get('node-1')?.url, urls[0]);
    assert.is(statuses.get('node-2')?.url, urls[1]);
    assert.is(statuses.get('node-1')?.state, 'online');

    const signalled = Date.now();
    process.kill(up.child.pid!, 'SIGINT');
    const code = await exitCodeWithin(up, 5000);
    const stopMs = Date.now() - signalled;
    assert.is(code, 0, output(up));
    await assertFree([base, base + 1, mqttPort, wsPort]);
    console.log(`  up: 2 nodes ready in ${startMs} ms, stopped in ${stopMs} ms`);
  } finally {
    if (up.child.exitCode === null) process.kill(-up.child.pid!, 'SIGKILL');
    dir.cleanup();
  }
});

test('up: a node port already taken fails the start naming --base-port, and stops the rest', async () => {
  const dir = tempDir('up-taken');
  const { base, others } = await freePorts(2, 2);
  const [mqttPort, wsPort] = others;
  const taken = await listen(base + 1); // node-2's port
  const up = startUp(['--nodes', '2', '--data', dir.path, '--base-port', String(base), '--mqtt-port', String(mqttPort), '--ws-port', String(wsPort)]);
  try {
    const code = await exitCodeWithin(up, 30_000);
    assert.is(code, 1, output(up));
    const said = up.stderr.join('\n');
    assert.match(said, `Port ${base + 1}`);
    assert.match(said, '--base-port');
    await assertFree([base, mqttPort, wsPort]);
  } finally {
    await close([taken]);
    if (up.child.exitCode === null) process.kill(-up.child.pid!, 'SIGKILL');
    dir.cleanup();
  }
});

test('up: the MQTT port already taken fails at once naming --mqtt-port', async () => {
  const dir = tempDir('up-mqtt');
  const { base, others } = await freePorts(1, 1);
  const taken = await listen(others[0]);
  const up = startUp(['--nodes', '1', '--data', dir.path, '--base-port', String(base), '--mqtt-port', String(others[0]), '--ws-port', '0']);
  try {
    const code = await exitCodeWithin(up, 10_000);
    assert.is(code, 1, output(up));
    assert.match(up.stderr.join('\n'), '--mqtt-port');
  } finally {
    await close([taken]);
    if (up.child.exitCode === null) process.kill(-up.child.pid!, 'SIGKILL');
    dir.cleanup();
  }
});

test('up: node options reach every node (--heartbeat-ms in /status, --trash-days 0 leaves nothing in the trash)', async () => {
  const dir = tempDir('up-node-options');
  const { base, others } = await freePorts(2, 2);
  const [mqttPort, wsPort] = others;
  const up = startUp([
    '--nodes', '2', '--data', dir.path, '--base-port', String(base), '--mqtt-port', String(mqttPort), '--ws-port', String(wsPort),
    '--heartbeat-ms', '700', '--trash-days', '0',
  ]);
  try {
    const ready = await until('cluster ready', () => {
      if (up.child.exitCode !== null) throw new Error(`up exited (${up.child.exitCode})\n${output(up)}`);
      return clusterReady(up);
    }, 30_000, up);
    for (const { url } of ready.nodes) {
      const status = await (await fetch(`${url}/status`)).json();
      assert.is(status.heartbeatMs, 700, `${url} heartbeats every 700 ms`);
    }
    const url = ready.nodes[0].url;
    assert.is((await fetch(`${url}/files/gone.txt?w=1`, { method: 'PUT', body: 'deleted at once' })).status, 201);
    assert.is((await fetch(`${url}/files/gone.txt?w=1`, { method: 'DELETE' })).status, 204);
    const trash = await (await fetch(`${url}/trash/`)).json();
    assert.equal(trash.entries, [], 'no trash: nothing restorable');
  } finally {
    if (up.child.exitCode === null) {
      process.kill(up.child.pid!, 'SIGINT');
      await exitCodeWithin(up, 8000).catch(() => process.kill(-up.child.pid!, 'SIGKILL'));
    }
    dir.cleanup();
  }
});

test('up: flags are checked before anything starts', () => {
  const config = parseUpArgs([], {});
  assert.equal(config, { nodes: 3, dataDir: './data', basePort: 7001, mqttPort: 1883, wsPort: 8083, host: '127.0.0.1', token: undefined, logLevel: 'info', nodeArgs: [] });
  // Node options go to every node as given; a bad value is refused here, as the node would refuse it.
  assert.equal(parseUpArgs(['--trash-days', '0.5', '--no-watch', '--reserve', '1%', '--changes-keep', '10'], {}).nodeArgs, ['--no-watch', '--reserve', '1%', '--trash-days', '0.5', '--changes-keep', '10']);
  for (const args of [['--trash-days', 'soon'], ['--changes-keep', '0'], ['--reserve', 'lots'], ['--member-ttl-ms', '-1'], ['--id', 'n1'], ['--port', '1'], ['--embedded-broker']]) {
    assert.throws(() => parseUpArgs(args, {}), (err: Error) => err instanceof UsageError, args.join(' '));
  }
  for (const args of [['--nodes', '0'], ['--nodes', '17'], ['--base-port', 'x'], ['--base-port', '65535', '--nodes', '2'], ['--mqtt-port', '7002'], ['--bogus'], ['--log-level', 'loud'], ['--host', '0.0.0.0']]) {
    assert.throws(() => parseUpArgs(args, {}), (err: Error) => err instanceof UsageError, args.join(' '));
  }
  assert.is(parseUpArgs(['--host', '0.0.0.0'], { NUVEM_TOKEN: 't' }).token, 't');
});

test.run();
