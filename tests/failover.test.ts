/**
 * The client library against real nodes (child processes) and the embedded
 * broker, all on loopback ports chosen by the system:
 *
 * - a node held back (stopped while writes happen, then restarted) never
 *   makes a read return an older version while a fresh node is up;
 * - a node behind a delaying TCP proxy (+50 ms per request) loses the
 *   client's traffic to the faster nodes within a few requests;
 * - `kill -9` of the node serving a 500 MiB download halfway: the download
 *   completes from another node, whole, with the right SHA-256; the same
 *   for the node receiving a 500 MiB upload. Content is generated
 *   (AES-CTR keystream, seeded) and streamed, never held in memory.
 *
 * Stall times are printed, not asserted beyond a generous bound.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBroker, type RunningBroker } from '../broker/mod.ts';
import { saveToFile } from '../client/local_files.ts';
import { createClient, NuvemHttpError, type FailoverInfo, type NuvemClient, type RequestInfo } from '../client/mod.ts';
import { sha256File } from './_support/bytes.ts';
import { freePort } from './_support/ports.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { tempDir, type TempDir } from './_support/temp.ts';
import { sleep } from './_support/sleep.ts';

const MiB = 1024 * 1024;
const BIG = 500 * MiB;
const HEARTBEAT_MS = 1000;
// --- content: deterministic, streamed

/** `size` bytes of AES-256-CTR keystream from `seed`, in 1 MiB chunks, made as the reader pulls. */
function generated(seed: number, size: number): ReadableStream<Uint8Array> {
  const key = createHash('sha256').update(`nuvem-test-${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  let left = size;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) return controller.close();
      const n = Math.min(MiB, left);
      left -= n;
      controller.enqueue(new Uint8Array(cipher.update(zeros.subarray(0, n))));
    },
  }, { highWaterMark: 0 });
}

async function generatedSha256(seed: number, size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of generated(seed, size) as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

// --- a loopback proxy that delays every request by `delayMs`

interface DelayProxy {
  url: string;
  target: number;
  close(): Promise<void>;
}

/**
 * Bytes towards the node wait `delayMs` (in order, a delay line: throughput
 * is kept, each request arrives later); answers come back at once.
 */
async function delayProxy(delayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const proxy: DelayProxy = { url: '', target: 0, close: async () => {} };
  const server: Server = createServer({ noDelay: true }, (client) => {
    const upstream = connect({ host: '127.0.0.1', port: proxy.target, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    let queued = 0;
    client.on('data', (chunk: Buffer) => {
      queued += chunk.length;
      if (queued > 8 * MiB) client.pause();
      setTimeout(() => {
        queued -= chunk.length;
        if (!upstream.destroyed) upstream.write(chunk);
        if (queued <= 8 * MiB) client.resume();
      }, delayMs);
    });
    client.on('end', () => setTimeout(() => upstream.end(), delayMs));
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  proxy.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

// --- the cluster: broker in this process, three node processes; node-3 behind the proxy

let dir: TempDir;
let broker: RunningBroker;
let proxy: DelayProxy;
const procs = new Map<string, NodeProcess>();
const ids = ['node-1', 'node-2', 'node-3'];
const SLOW = 'node-3';

async function startOne(id: string): Promise<NodeProcess> {
  const dataDir = join(dir.path, id);
  mkdirSync(dataDir, { recursive: true });
  const args = ['--id', id, '--broker', broker.mqttUrl, '--heartbeat-ms', String(HEARTBEAT_MS), '--log-level', 'warn'];
  if (id === SLOW) {
    // The node announces (and logs) the proxy's URL, so its own port is chosen here.
    proxy.target = await freePort();
    args.push('--port', String(proxy.target), '--public-url', proxy.url);
  }
  const p = await startNodeProcess({ dataDir, args, timeoutMs: 30_000 });
  procs.set(id, p);
  return p;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Every running node sees every other running node online (so `w=auto` waits for all of them). */
async function waitMesh(): Promise<void> {
  await waitFor('the nodes to see each other', async () => {
    const running = [...procs.entries()];
    for (const [id, p] of running) {
      const s = (await (await fetch(`${p.url}/status`)).json()) as { cluster: { id: string; state: string }[] };
      for (const [other] of running) if (other !== id && s.cluster.find((m) => m.id === other)?.state !== 'online') return false;
    }
    return true;
  });
}

async function onlineIn(client: NuvemClient, want: string[]): Promise<void> {
  await waitFor(`the client to see ${want.join(', ')} online`, async () => {
    const nodes = await client.nodes();
    return want.every((id) => nodes.find((n) => n.id === id)?.state === 'online');
  });
}

test.before(async () => {
  try {
    dir = tempDir('failover');
    broker = await startBroker({ port: 0, wsPort: false });
    proxy = await delayProxy(50);
    await Promise.all(ids.map(startOne));
    await waitMesh();
  } catch (err) {
    // uvu does not report a failing hook: say why before the suite fails.
    console.error('failover.test.ts: cannot start the cluster:', err);
    throw err;
  }
});

test.after(async () => {
  if (process.env.NUVEM_CLUSTER_LOGS) for (const [id, p] of procs) console.log(`--- ${id}\n${p.output.slice(-50).join('\n')}`);
  await Promise.all([...procs.values()].map((p) => p.kill()));
  await proxy?.close();
  await broker?.close();
  dir?.cleanup();
});

// ---

test('a node behind +50 ms loses the traffic to the faster nodes within a few requests', async () => {
  const client = createClient({ broker: broker.mqttUrl });
  try {
    await onlineIn(client, ids);
    await client.put('latency/probe.txt', 'probe');
    const served: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await client.get('latency/probe.txt');
      served.push(res.headers.get('x-nuvem-node')!);
      assert.is(await res.text(), 'probe');
    }
    console.log(`    reads served by: ${served.join(' ')}`);
    // The client probes new nodes in the background; reads sent before every node is measured may
    // still reach the slow one (each node's first answer only warms up), after that none do.
    const explore = 2 * ids.length;
    assert.equal(served.slice(explore).filter((id) => id === SLOW), [], `the slow node kept serving: ${served.join(' ')}`);
    const slow = (await client.nodes()).find((n) => n.id === SLOW)!;
    assert.ok((slow.latencyMs ?? 0) >= 45, `measured ${slow.latencyMs} ms for the slow node`);
  } finally {
    await client.close();
  }
});

test('a node held back (stopped, writes, restarted) never makes a read return an older version', async () => {
  const HELD = 'node-2';
  const N = 150;
  const paths = Array.from({ length: N }, (_, i) => `held/f${String(i).padStart(3, '0')}.txt`);
  const body = (i: number, v: number) => `v${v} of ${i} `.repeat(2000); // ~22 KiB
  // The writer (read-your-writes), and a reader that knows the new versions only from the change notices.
  const writer = createClient({ broker: broker.mqttUrl });
  const reader = createClient({ broker: broker.mqttUrl });
  try {
    await Promise.all([onlineIn(writer, ids), onlineIn(reader, ids)]);
    const pool = async (fn: (i: number) => Promise<void>, width = 8) => {
      let next = 0;
      await Promise.all(Array.from({ length: width }, async () => {
        while (next < N) await fn(next++);
      }));
    };
    await pool(async (i) => void (await writer.put(paths[i], body(i, 1))));
    await procs.get(HELD)!.stop();
    procs.delete(HELD);
    await waitFor('the stopped node to be offline for the clients', async () =>
      (await writer.nodes()).find((n) => n.id === HELD)?.state === 'offline' && (await reader.nodes()).find((n) => n.id === HELD)?.state === 'offline');
    const newest: Record<string, number> = {};
    await pool(async (i) => {
      const r = await writer.put(paths[i], body(i, 2));
      newest[r.origin!] = Math.max(newest[r.origin!] ?? 0, r.seq!);
    });

    const held = await startOne(HELD);
    const restartedAt = performance.now();
    let caughtUpAt = 0;
    let oldFromHeld = 0;
    let clientReads = 0;
    let servedByHeld = 0;
    const bad: string[] = [];
    let stop = false;
    // The window: until the held node's applied vector covers every write it missed. Meanwhile
    // it is asked directly for the paths written last (caught up last), to show it still had version 1.
    const watchHeld = (async () => {
      for (let i = N - 1; !caughtUpAt; i = i === 0 ? N - 1 : i - 1) {
        const res = await fetch(`${held.url}/files/${paths[i]}`).catch(() => undefined);
        if (res?.ok && (await res.text()) === body(i, 1)) oldFromHeld++;
        const status = (await (await fetch(`${held.url}/status`)).json()) as { applied: Record<string, number> };
        if (Object.entries(newest).every(([origin, seq]) => (status.applied[origin] ?? 0) >= seq)) caughtUpAt = performance.now();
      }
    })();
    const read = async (client: NuvemClient, who: string, from: number) => {
      for (let i = from; !stop; i = (i + 1) % N) {
        const res = await client.get(paths[i]);
        const text = await res.text();
        clientReads++;
        if (res.headers.get('x-nuvem-node') === HELD) servedByHeld++;
        if (text !== body(i, 2)) bad.push(`${who} read ${paths[i]} from ${res.headers.get('x-nuvem-node')}: ${text.slice(0, 12)}…`);
      }
    };
    const readers = [read(writer, 'writer', 0), read(reader, 'reader', N / 2)];
    await watchHeld;
    // A little longer: the held node comes back into rotation once its heartbeats show it caught up.
    await sleep(2.5 * HEARTBEAT_MS);
    stop = true;
    await Promise.all(readers);
    console.log(`    the held node caught up ${Math.round(caughtUpAt - restartedAt)} ms after it restarted; asked directly meanwhile, ` +
      `it answered with version 1 ${oldFromHeld} times; the clients read ${clientReads} times (${servedByHeld} from it), never version 1`);
    assert.equal(bad.slice(0, 5), []);
    assert.ok(clientReads >= N / 2, `only ${clientReads} reads`);
  } finally {
    await writer.close();
    await reader.close();
  }
  await waitMesh();
});

test('kill -9 of the node serving a 500 MiB download at half way: it completes from another node, whole and verified', async () => {
  const expected = await generatedSha256(1, BIG);
  const failovers: (FailoverInfo & { at: number })[] = [];
  const client = createClient({ broker: broker.mqttUrl, onFailover: (f) => failovers.push({ ...f, at: performance.now() }) });
  const dest = join(dir.path, 'download.bin');
  try {
    await onlineIn(client, [...procs.keys()]);
    const putStarted = performance.now();
    let version: string;
    try {
      version = (await client.put('big/download.bin', () => generated(1, BIG), { size: BIG, sha256: expected })).version;
    } catch (err) {
      // Stored, but not yet on every replica within the node's ack timeout: it keeps replicating.
      if (!(err instanceof NuvemHttpError && err.code === 'write_concern')) throw err;
      version = '';
      console.log(`    (the 500 MiB upload answered 503 write_concern after ${Math.round(performance.now() - putStarted)} ms; waiting for the replicas)`);
    }
    await waitFor('every node to hold the 500 MiB file', async () => {
      const heads = await Promise.all([...procs.values()].map((p) => fetch(`${p.url}/files/big/download.bin`, { method: 'HEAD' })));
      const tags = new Set(heads.map((h) => (h.ok ? h.headers.get('etag') : null)));
      return tags.size === 1 && !tags.has(null) && (version === '' || tags.has(`"${version}"`));
    }, 60_000);
    const res = await client.get('big/download.bin');
    const servedBy = res.headers.get('x-nuvem-node')!;
    let got = 0;
    let killedAt = 0;
    let lastChunkAt = performance.now();
    let maxGapAfterKill = 0;
    let killing: Promise<void> | undefined;
    const watch = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const now = performance.now();
        if (killedAt) maxGapAfterKill = Math.max(maxGapAfterKill, now - lastChunkAt);
        lastChunkAt = now;
        got += chunk.byteLength;
        if (!killedAt && got >= BIG / 2) {
          killedAt = now;
          killing = procs.get(servedBy)!.kill();
          procs.delete(servedBy);
        }
        controller.enqueue(chunk);
      },
    });
    const started = performance.now();
    const saved = await saveToFile(res.body!.pipeThrough(watch), dest, { sha256: expected });
    await killing;
    const took = performance.now() - started;
    assert.is(saved.size, BIG);
    assert.is(saved.sha256, expected);
    assert.is(await sha256File(dest), expected);
    assert.is(failovers.length, 1, JSON.stringify(failovers));
    assert.is(failovers[0].nodeId, servedBy);
    const breakAfterKill = failovers[0].at - killedAt;
    console.log(`    ${servedBy} killed at ${Math.round(failovers[0].resumeAt! / MiB)} MiB delivered; the break reached the client ` +
      `${Math.round(breakAfterKill)} ms later (buffered bytes); the read stalled at most ${maxGapAfterKill.toFixed(1)} ms; ` +
      `500 MiB in ${(took / 1000).toFixed(1)} s`);
    assert.ok(maxGapAfterKill < 5000, `stalled ${maxGapAfterKill} ms`);
  } finally {
    await client.close();
  }
});

test('kill -9 of the node receiving a 500 MiB upload at half way: it is sent again to another node and stored whole', async () => {
  const expected = await generatedSha256(2, BIG);
  const requests: (RequestInfo & { at: number })[] = [];
  const failovers: (FailoverInfo & { at: number })[] = [];
  const client = createClient({
    broker: broker.mqttUrl,
    onRequest: (r) => requests.push({ ...r, at: performance.now() }),
    onFailover: (f) => failovers.push({ ...f, at: performance.now() }),
  });
  try {
    await onlineIn(client, [...procs.keys()]);
    let killedAt = 0;
    let killing: Promise<void> | undefined;
    let victim = '';
    const started = performance.now();
    const record = await client.put('big/upload.bin', () => generated(2, BIG), {
      size: BIG,
      sha256: expected,
      onProgress: (sent) => {
        if (killedAt || sent < BIG / 2) return;
        killedAt = performance.now();
        victim = requests.at(-1)!.nodeId;
        killing = procs.get(victim)!.kill();
        procs.delete(victim);
      },
    });
    await killing;
    const took = performance.now() - started;
    assert.is(record.sha256, expected);
    assert.is(record.size, BIG);
    const puts = requests.filter((r) => r.method === 'PUT');
    assert.is(puts.length, 2, JSON.stringify(puts));
    assert.is(puts[0].nodeId, victim);
    assert.is.not(puts[1].nodeId, victim);
    assert.is(failovers.length, 1);
    const stat = await client.stat('big/upload.bin');
    assert.is(stat.sha256, expected);
    console.log(`    ${victim} killed at ${BIG / 2 / MiB} MiB sent; the failure reached the client ${Math.round(failovers[0].at - killedAt)} ms later, ` +
      `the upload started again at ${puts[1].nodeId} ${Math.round(puts[1].at - failovers[0].at)} ms after that; ` +
      `stored whole in ${(took / 1000).toFixed(1)} s in all`);
  } finally {
    await client.close();
  }
});

test.run();
