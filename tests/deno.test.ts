// Nuvem under Deno 2: a node (Deno.serve) and the MQTT broker (broker/main.ts),
// each a Deno child process started with its deno.json task's permissions, and
// replicating with a node under Node. CI (NUVEM_REQUIRE_DENO=1) always runs
// these; elsewhere they are skipped, saying so, when no Deno binary is found.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { startBroker } from '../broker/mod.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { assertPlausibleResources } from './_support/resources_check.ts';
import { REPO_ROOT, startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { skipped } from './_support/skip.ts';
import { sleep } from './_support/sleep.ts';

function findDeno(): string | undefined {
  const local = join(REPO_ROOT, 'node_modules', 'deno', 'deno'); // npm run deno:install
  if (existsSync(local)) return local;
  return spawnSync('deno', ['--version']).status === 0 ? 'deno' : undefined;
}

const deno = findDeno();
const running = new Set<ChildProcess>();
const dirs: string[] = [];

test.after(() => {
  for (const child of running) {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function denoMissing(): boolean {
  if (deno) return false;
  skipped('no Deno binary', { required: 'NUVEM_REQUIRE_DENO', hint: '`npm run deno:install` puts one in node_modules/deno/deno' });
  return true;
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** `deno run --allow-… ENTRY` as written in deno.json's task, so the test checks the permissions the task grants. */
function taskArgs(task: string): string[] {
  const tasks = JSON.parse(readFileSync(join(REPO_ROOT, 'deno.json'), 'utf8')).tasks as Record<string, string>;
  const [program, ...args] = tasks[task].split(' ');
  assert.is(program, 'deno', `deno.json task ${task} runs deno`);
  return args;
}

interface DenoProcess {
  pid: number;
  /** The log line that said it was ready, parsed. */
  ready: Record<string, string>;
  output: string[];
  /** SIGTERM (SIGKILL after 5 s); resolves with the exit code, or the signal's name. */
  stop(): Promise<number | string>;
}

/** Starts a Deno child process; resolves once it logs a JSON line with `msg` === `readyMsg`. */
function startDeno(task: string, args: string[], readyMsg: string): Promise<DenoProcess> {
  const child = spawn(deno!, [...taskArgs(task), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`deno task ${task} did not log "${readyMsg}" within 60 s:\n${output.join('\n')}`));
    }, 60_000);
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`deno task ${task} exited (${how}) before "${readyMsg}":\n${output.join('\n')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      let entry: Record<string, string>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg !== readyMsg) return;
      clearTimeout(timer);
      resolve({ pid: child.pid!, ready: entry, output, stop });
    });
  });
}

const startDenoNode = (args: string[]) => startDeno('node', ['--port', '0', '--data', tempDir('nuvem-deno-'), ...args], 'listening');
const startDenoBroker = () => startDeno('broker', ['--port', '0', '--ws-port', '0'], 'broker listening');

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const pattern = (size: number, seed: number) => new Uint8Array(size).map((_, i) => (i * seed + (i >> 8)) & 0xff);

test('a node under Deno serves put, get and delete', async () => {
  if (denoMissing()) return;
  const node = await startDenoNode(['--broker', 'mqtt://127.0.0.1:1']);
  let exit: number | string | undefined;
  try {
    const url = node.ready.url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const body = pattern(300_000, 7);
    const put = await fetch(`${url}/files/deno/a%20b.bin`, { method: 'PUT', body });
    assert.is(put.status, 201);
    const record = await put.json();
    assert.is(record.sha256, sha256(body));
    const get = await fetch(`${url}/files/deno/a%20b.bin`);
    assert.is(get.status, 200);
    assert.is(get.headers.get('etag'), `"${record.version}"`);
    assert.is(sha256(new Uint8Array(await get.arrayBuffer())), sha256(body));
    const range = await fetch(`${url}/files/deno/a%20b.bin`, { headers: { range: 'bytes=10-19' } });
    assert.is(range.status, 206);
    assert.equal([...new Uint8Array(await range.arrayBuffer())], [...body.slice(10, 20)]);
    const del = await fetch(`${url}/files/deno/a%20b.bin`, { method: 'DELETE' });
    assert.is(del.status, 204);
    const gone = await fetch(`${url}/files/deno/a%20b.bin`);
    assert.is(gone.status, 404);
    assert.is((await gone.json()).error, 'not_found');
    const bad = await fetch(`${url}/files/a%00b`, { method: 'PUT', body: 'x' });
    assert.is(bad.status, 400);
    assert.is((await bad.json()).error, 'invalid_path');
  } finally {
    exit = await node.stop();
  }
  assert.is(exit, 0, 'the Deno node exits 0 on SIGTERM');
});

test('`deno task node` with the npm-installed binary starts a node that answers', async () => {
  if (denoMissing()) return;
  const dir = tempDir('nuvem-deno-task-');
  // Its own process group: deno task runs the node as a child, and both are stopped together.
  const child = spawn(deno!, ['task', 'node', '--port', '0', '--data', dir, '--broker', 'mqtt://127.0.0.1:1'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output: string[] = [];
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line within 60 s:\n${output.join('\n')}`)), 60_000);
      const onLine = (line: string) => {
        output.push(line);
        const m = /"msg":"listening","url":"([^"]+)"/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.once('exit', (code) => reject(new Error(`deno task node exited (${code}):\n${output.join('\n')}`)));
    });
    const health = await fetch(`${url}/health`);
    assert.is(health.status, 200);
    await health.body?.cancel();
    const status = await (await fetch(`${url}/status`)).json();
    assert.match(String(status.runtime), /^deno /);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await Promise.race([exited, sleep(5000)]);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // stopped
    }
  }
});

test('the broker under Deno speaks MQTT over TCP and over WebSocket at /mqtt', async () => {
  if (denoMissing()) return;
  const broker = await startDenoBroker();
  const { mqtt: mqttUrl, ws: wsUrl } = broker.ready;
  assert.match(mqttUrl, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
  let tcp: MqttClient | undefined;
  let browser: MqttClient | undefined;
  let raw: WebSocket | undefined;
  let exit: number | string | undefined;
  try {
    tcp = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000 });
    browser = await mqtt.connectAsync(wsUrl, { reconnectPeriod: 0, connectTimeout: 5000 });
    const received = (client: MqttClient) =>
      new Promise<[string, Buffer]>((resolve) => client.once('message', (topic, payload) => resolve([topic, payload])));

    // TCP → WebSocket
    await browser.subscribeAsync('nuvem/files/#', { qos: 1 });
    const toBrowser = received(browser);
    await tcp.publishAsync('nuvem/files/a%2Bb', '{"op":"put"}', { qos: 1 });
    const [topic1, payload1] = await toBrowser;
    assert.is(topic1, 'nuvem/files/a%2Bb');
    assert.is(payload1.toString(), '{"op":"put"}');

    // WebSocket → TCP, a payload bigger than one read
    const big = pattern(200_000, 13);
    await tcp.subscribeAsync('nuvem/events/#', { qos: 1 });
    const toTcp = received(tcp);
    await browser.publishAsync('nuvem/events/n1', Buffer.from(big), { qos: 1 });
    const [topic2, payload2] = await toTcp;
    assert.is(topic2, 'nuvem/events/n1');
    assert.is(sha256(payload2), sha256(big));

    // A CONNECT split over three WebSocket frames is answered with one CONNACK
    // (Deno's Readable.read() hands out one chunk at a time: broker/whole_reads.ts).
    raw = new WebSocket(wsUrl, ['mqtt']);
    await once(raw, 'open');
    assert.is(raw.protocol, 'mqtt');
    const connect = Buffer.from([0x10, 0x0d, 0, 4, ...Buffer.from('MQTT'), 4, 0x02, 0, 60, 0, 1, 0x61]);
    raw.send(connect.subarray(0, 1));
    raw.send(connect.subarray(1, 2));
    raw.send(connect.subarray(2));
    const [connack] = (await once(raw, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    assert.equal([...connack], [0x20, 0x02, 0x00, 0x00]);

    const plain = await fetch(wsUrl.replace(/^ws:/, 'http:'));
    assert.is(plain.status, 426);
    assert.is((await plain.json()).error, 'upgrade_required');
  } finally {
    raw?.terminate();
    await Promise.all([tcp?.endAsync(true), browser?.endAsync(true)]);
    exit = await broker.stop();
  }
  assert.is(exit, 0, 'the Deno broker exits 0 on SIGTERM');
  assert.ok(broker.output.some((line) => line.includes('"msg":"broker stopped"')), broker.output.join('\n'));
});

test('a broker and a node under Deno replicate both ways with a node under Node', async () => {
  if (denoMissing()) return;
  const broker = await startDenoBroker();
  const { mqtt: mqttUrl, ws: wsUrl } = broker.ready;
  let nodeA: NodeProcess | undefined;
  let nodeB: DenoProcess | undefined;
  let watch: Awaited<ReturnType<typeof watchTopics>> | undefined;
  let exits: [number | string | undefined, number | string] | undefined;
  try {
    nodeA = await startNodeProcess({ dataDir: tempDir('nuvem-deno-peer-'), args: ['--id', 'node-a', '--broker', mqttUrl] });
    nodeB = await startDenoNode(['--id', 'node-b', '--broker', mqttUrl]);
    const urlA = nodeA.url;
    const urlB = nodeB.ready.url;
    const sees = async (url: string, peer: string) => {
      for (let i = 0; i < 100; i++) {
        const s = await (await fetch(`${url}/status`)).json();
        if (s.cluster.some((m: { id: string; state: string }) => m.id === peer && m.state === 'online')) return;
        await sleep(100);
      }
      assert.unreachable(`${url} never saw ${peer} online`);
    };
    await sees(urlA, 'node-b');
    await sees(urlB, 'node-a');

    // A dashboard on the WebSocket listener sees both nodes' retained status.
    watch = await watchTopics(wsUrl, ['nuvem/nodes/+/status']);
    for (const [id, url] of [['node-a', urlA], ['node-b', urlB]]) {
      const status = await watch.waitFor((m) => m.json?.id === id && m.json?.state === 'online', { what: `${id} online` });
      assert.is(status.json.url, url);
    }

    const fromNode = pattern(300_000, 3);
    const putA = await fetch(`${urlA}/files/from-node.bin`, { method: 'PUT', body: fromNode });
    assert.is(putA.status, 201);
    const recordA = await putA.json();
    assert.is(recordA.sha256, sha256(fromNode));
    assert.equal(recordA.replicas.sort(), ['node-a', 'node-b']);
    const getB = await fetch(`${urlB}/files/from-node.bin`);
    assert.is(getB.status, 200);
    assert.is(getB.headers.get('etag'), `"${recordA.version}"`);
    assert.is(sha256(new Uint8Array(await getB.arrayBuffer())), sha256(fromNode));

    const fromDeno = pattern(200_000, 11);
    const putB = await fetch(`${urlB}/files/from-deno.bin`, { method: 'PUT', body: fromDeno });
    assert.is(putB.status, 201);
    const recordB = await putB.json();
    assert.is(recordB.sha256, sha256(fromDeno));
    assert.equal(recordB.replicas.sort(), ['node-a', 'node-b']);
    const getA = await fetch(`${urlA}/files/from-deno.bin`);
    assert.is(getA.status, 200);
    assert.is(getA.headers.get('etag'), `"${recordB.version}"`);
    assert.is(sha256(new Uint8Array(await getA.arrayBuffer())), sha256(fromDeno));

    // A body without a length is not pushed while it arrives: the other node
    // fetches the content after the notice (peers.ts), each way.
    for (const [from, to, seed] of [[urlA, urlB, 5], [urlB, urlA, 6]] as const) {
      const bytes = pattern(150_000, seed);
      const chunked = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(bytes.subarray(0, 70_000)); c.enqueue(bytes.subarray(70_000)); c.close(); } });
      const put = await fetch(`${from}/files/fetched-${seed}.bin`, { method: 'PUT', body: chunked, duplex: 'half' } as RequestInit);
      assert.is(put.status, 201);
      assert.is((await put.json()).replicas.length, 2);
      const got = await fetch(`${to}/files/fetched-${seed}.bin`);
      assert.is(got.status, 200);
      assert.is(sha256(new Uint8Array(await got.arrayBuffer())), sha256(bytes));
    }

    // Deletes wait for every online peer's ack (w=auto), so the other node has it at once.
    assert.is((await fetch(`${urlB}/files/from-node.bin`, { method: 'DELETE' })).status, 204);
    const goneA = await fetch(`${urlA}/files/from-node.bin`);
    assert.is(goneA.status, 404);
    assert.is((await goneA.json()).error, 'not_found');
    assert.is((await fetch(`${urlA}/files/from-deno.bin`, { method: 'DELETE' })).status, 204);
    const goneB = await fetch(`${urlB}/files/from-deno.bin`);
    assert.is(goneB.status, 404);
    assert.is((await goneB.json()).error, 'not_found');
  } finally {
    await watch?.close();
    await nodeA?.stop();
    exits = [await nodeB?.stop(), await broker.stop()];
  }
  assert.equal(exits, [0, 0], 'the Deno node and the Deno broker exit 0 on SIGTERM');
});

test('a node under Deno reports cpu, load, mem and disk in its heartbeat, and serves the dashboard, with the deno.json task\'s permissions', async () => {
  if (denoMissing()) return;
  const broker = await startBroker({ port: 0, wsPort: false });
  let node: DenoProcess | undefined;
  let watch: Awaited<ReturnType<typeof watchTopics>> | undefined;
  let exit: number | string | undefined;
  try {
    watch = await watchTopics(broker.mqttUrl, ['nuvem/nodes/+/status']);
    node = await startDenoNode(['--id', 'deno-beat', '--broker', broker.mqttUrl]);
    const first = await watch.waitFor((m) => m.json?.id === 'deno-beat' && m.json?.state === 'online', { timeoutMs: 20_000, what: 'a heartbeat of deno-beat' });
    assert.match(String(first.json.runtime), /^deno /);
    assertPlausibleResources(first.json, 'Deno heartbeat');
    const since = watch.seen.length;
    assert.is((await fetch(`${node.ready.url}/files/d.txt`, { method: 'PUT', body: 'd'.repeat(5000) })).status, 201);
    const later = await watch.waitFor((m) => m.json?.id === 'deno-beat' && m.json.traffic?.in >= first.json.traffic.in + 5000, {
      since, timeoutMs: 5000, what: 'a heartbeat counting the upload',
    });
    assertPlausibleResources(later.json, 'a later Deno heartbeat');
    // The dashboard's files are found and served under Deno too.
    for (const [file, type] of [['', /^text\/html/], ['dashboard/app.js', /^text\/javascript/], ['dashboard/mqtt.esm.js', /^text\/javascript/]] as const) {
      const res = await fetch(`${node.ready.url}/${file}`);
      assert.is(res.status, 200, `/${file}`);
      assert.match(res.headers.get('content-type') ?? '', type);
      await res.arrayBuffer();
    }
  } finally {
    await watch?.close();
    exit = await node?.stop();
    await broker.close();
  }
  assert.is(exit, 0);
});

test.run();
