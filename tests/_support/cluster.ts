/**
 * A cluster for tests: one MQTT broker (the embedded Aedes broker in this
 * process, or a Mosquitto child process) and N storage nodes as child
 * processes (node_process.ts), with stable ids `node-1` … `node-N` and data
 * folders kept across `kill`/`restart`. Node numbers `k` are 1-based, as in
 * the ids.
 *
 * `waitConverged` is the convergence oracle of DESIGN.md 7.2: every running
 * node lists the same records (path, type, version, sha256) and serves the
 * same bytes for each file.
 *
 * @example
 * await withCluster({ nodes: 3 }, async (cluster) => {
 *   await cluster.put(1, 'a.txt', 'hello');
 *   await cluster.kill(2);
 *   await cluster.restart(2);
 *   await cluster.waitConverged({ timeoutMs: 20_000 });
 * });
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startBroker as startEmbeddedBroker, type RunningBroker } from '../../broker/mod.ts';
import { freePort } from './ports.ts';
import { startNodeProcess, type NodeProcess } from './node_process.ts';
import { tempDir, type TempDir } from './temp.ts';
import { sleep } from './sleep.ts';

export type BrokerKind = 'embedded' | 'mosquitto';

export interface ClusterOptions {
  /** How many nodes (default 3). */
  nodes?: number;
  /** The broker: `embedded` (Aedes in this process, default) or `mosquitto` (a child process). */
  broker?: BrokerKind;
  /** Token for the nodes (HTTP and MQTT) and the embedded broker. */
  token?: string;
  /** Nodes' own secret (`--node-token`), given to the nodes and the embedded broker; requests keep using `token`. */
  nodeToken?: string;
  heartbeatMs?: number;
  /** `--anti-entropy-ms` of every node (default 30000, the node's own default). */
  antiEntropyMs?: number;
  /** Extra arguments for every node. */
  nodeArgs?: string[];
  /** Nodes watch their files folders (default: not, `--no-watch`). */
  watch?: boolean;
  label?: string;
}

export interface ListedRecord {
  path: string;
  type: 'file' | 'folder';
  version?: string;
  sha256?: string;
  size?: number;
  deleted?: boolean;
  origin?: string;
  seq?: number;
}

export interface Answer {
  status: number;
  json: any;
  body: Buffer;
  headers: Headers;
  ms: number;
}

export interface Cluster {
  /** Node numbers, 1 … N. */
  readonly ks: number[];
  readonly brokerUrl: string;
  readonly brokerPort: number;
  readonly brokerKind: BrokerKind;
  readonly token: string | undefined;
  id(k: number): string;
  url(k: number): string;
  pid(k: number): number;
  dataDir(k: number): string;
  running(k: number): boolean;
  /** The node numbers whose process runs. */
  live(): number[];
  brokerRunning(): boolean;
  /**
   * The embedded broker's Aedes instance (undefined for Mosquitto, or while
   * stopped): tests use its hooks, e.g. `authorizeForward` to cut one node
   * off from the others' messages.
   */
  aedes(): RunningBroker['broker'] | undefined;
  /** `kill -9` of node k; resolves once the process is gone. */
  kill(k: number): Promise<void>;
  /** Starts node k again: same id, same data folder, the same port when it is free. */
  restart(k: number): Promise<void>;
  /** Stops the broker (embedded: closes it and every connection; Mosquitto: `kill -9`). */
  stopBroker(): Promise<void>;
  /** Starts the broker again on the same port. */
  startBroker(): Promise<void>;
  /** Waits until every running node sees every other running node online at its current URL. */
  waitMesh(options?: { timeoutMs?: number }): Promise<void>;
  /** Waits until every running node lists the same records and serves the same bytes; returns the listing. */
  waitConverged(options?: { timeoutMs?: number }): Promise<ListedRecord[]>;
  /** A request to node k (with the token, if any). Never throws for an HTTP status. */
  request(k: number, target: string, init?: RequestInit): Promise<Answer>;
  put(k: number, path: string, body: Uint8Array | string, options?: { w?: string | number; headers?: Record<string, string> }): Promise<Answer>;
  get(k: number, path: string): Promise<Answer>;
  remove(k: number, path: string, options?: { w?: string | number }): Promise<Answer>;
  move(k: number, from: string, to: string, options?: { w?: string | number }): Promise<Answer>;
  mkcol(k: number, path: string, options?: { w?: string | number }): Promise<Answer>;
  /** Every record node k lists (recursive, following `next_cursor`). */
  list(k: number): Promise<ListedRecord[]>;
  /** Node k's `/metrics` value of `name` summed over its series (0 when absent). */
  metric(k: number, name: string): Promise<number>;
  /** Nodes that exited by themselves (not by `kill`), with their last log lines. */
  crashes(): string[];
  /** The last `lines` log lines of node k (for failure messages). */
  logs(k: number, lines?: number): string;
  /** Stops every node and the broker, and removes the data folders. Safe to call twice. */
  close(): Promise<void>;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `/files/` target of a path, each segment percent-encoded. */
export function filesTarget(path: string): string {
  return '/files/' + path.split('/').map(encodeURIComponent).join('/');
}

export { freePort } from './ports.ts';

/** The Mosquitto broker binary, or undefined when it is not installed. */
export function findMosquitto(): string | undefined {
  for (const p of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto']) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

/** `mosquitto_sub`, or undefined when mosquitto-clients is not installed. */
export function findMosquittoSub(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v mosquitto_sub'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

/** Resolves once something accepts TCP connections on the port; rejects after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number, gone?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    const why = gone?.();
    if (why) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

// --- brokers

interface BrokerControl {
  kind: BrokerKind;
  port: number;
  running: boolean;
  /** The embedded broker's Aedes instance while it runs. */
  aedes?(): RunningBroker['broker'] | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function embeddedBroker(token: string | undefined, nodeToken?: string): Promise<BrokerControl> {
  let running: RunningBroker | undefined = await startEmbeddedBroker({ port: 0, wsPort: false, token, nodeToken });
  const port = running.port;
  return {
    kind: 'embedded',
    port,
    get running() {
      return running !== undefined;
    },
    aedes: () => running?.broker,
    async start() {
      if (running) return;
      // The port was ours a moment ago; a connection in TIME_WAIT does not stop a listener (SO_REUSEADDR).
      for (let attempt = 0; ; attempt++) {
        try {
          running = await startEmbeddedBroker({ port, wsPort: false, token, nodeToken });
          return;
        } catch (err) {
          if (attempt >= 40) throw err;
          await sleep(100);
        }
      }
    },
    async stop() {
      const r = running;
      running = undefined;
      await r?.close();
    },
  };
}

async function mosquittoBroker(dir: string): Promise<BrokerControl> {
  const bin = findMosquitto();
  if (!bin) throw new Error('mosquitto is not installed');
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n`);
  let child: ChildProcess | undefined;
  let output = '';
  const spawnIt = async () => {
    output = '';
    const c = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.unref();
    c.stdout!.on('data', (d) => (output += d));
    c.stderr!.on('data', (d) => (output += d));
    (c.stdout as unknown as { unref?: () => void }).unref?.();
    (c.stderr as unknown as { unref?: () => void }).unref?.();
    liveChildren.add(c);
    c.once('exit', () => liveChildren.delete(c));
    await waitForPort(port, 10_000, () => (c.exitCode !== null ? `mosquitto exited (${c.exitCode}):\n${output}` : undefined));
  };
  await spawnIt();
  return {
    kind: 'mosquitto',
    port,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child) return;
      await spawnIt();
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      const keep = setInterval(() => {}, 60_000);
      await exited;
      clearInterval(keep);
    },
  };
}

const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

// --- the cluster

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const n = options.nodes ?? 3;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const antiEntropyMs = options.antiEntropyMs ?? 30_000;
  const token = options.token;
  const kind = options.broker ?? 'embedded';
  if (kind === 'mosquitto' && token) throw new Error('the Mosquitto test broker runs without authentication; use the embedded broker with a token');
  const dir: TempDir = tempDir(options.label ?? 'cluster');
  const broker = kind === 'embedded' ? await embeddedBroker(token, options.nodeToken) : await mosquittoBroker(dir.path);
  const brokerUrl = `mqtt://127.0.0.1:${broker.port}`;
  const ks = Array.from({ length: n }, (_, i) => i + 1);
  const procs = new Map<number, NodeProcess>();
  const ports = new Map<number, number>();
  const outputs = new Map<number, string[]>();
  /** Nodes that exited without being killed or stopped by the cluster: what happened. */
  const crashes: string[] = [];
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

  const id = (k: number) => `node-${k}`;
  const dataDir = (k: number) => join(dir.path, id(k));
  const proc = (k: number) => {
    const p = procs.get(k);
    if (!p) throw new Error(`node ${k} is not running`);
    return p;
  };

  const launch = async (k: number, port: number) => {
    mkdirSync(dataDir(k), { recursive: true });
    const args = [
      '--id', id(k), '--port', String(port), '--broker', brokerUrl,
      '--heartbeat-ms', String(heartbeatMs), '--anti-entropy-ms', String(antiEntropyMs),
      ...(token ? ['--token', token] : []),
      ...(options.nodeToken ? ['--node-token', options.nodeToken] : []),
      ...(options.nodeArgs ?? []),
    ];
    const p = await startNodeProcess({ dataDir: dataDir(k), args, timeoutMs: 30_000, watch: options.watch });
    p.child.once('exit', (code, signal) => {
      if (procs.get(k) !== p) return; // killed on purpose
      procs.delete(k);
      const what = `${id(k)} (pid ${p.pid}) exited by itself (${code ?? signal}); its last log lines:\n${p.output.slice(-40).join('\n')}`;
      crashes.push(what);
      console.error(`\n  cluster: ${what}`);
    });
    procs.set(k, p);
    ports.set(k, Number(new URL(p.url).port));
    outputs.set(k, p.output);
  };

  let reported = 0;
  /** Throws (once per crash) when a node exited by itself. */
  const assertNoCrash = () => {
    if (crashes.length === reported) return;
    const news = crashes.slice(reported);
    reported = crashes.length;
    throw new Error(`a node crashed: ${news.join('\n')}`);
  };

  let closed = false;
  const cluster: Cluster = {
    ks,
    brokerUrl,
    brokerPort: broker.port,
    brokerKind: kind,
    token,
    id,
    url: (k) => proc(k).url,
    pid: (k) => proc(k).pid,
    dataDir,
    running: (k) => procs.has(k),
    live: () => ks.filter((k) => procs.has(k)),
    brokerRunning: () => broker.running,
    aedes: () => broker.aedes?.(),

    async kill(k) {
      const p = proc(k);
      procs.delete(k);
      await p.kill();
    },

    async restart(k) {
      if (procs.has(k)) throw new Error(`node ${k} is running; kill it first`);
      try {
        await launch(k, ports.get(k) ?? 0);
      } catch (err) {
        if (!/already in use/.test(String((err as Error).message))) throw err;
        await launch(k, 0); // the old port was taken meanwhile: any port will do, the node announces it
      }
    },

    stopBroker: () => broker.stop(),
    startBroker: () => broker.start(),

    async waitMesh({ timeoutMs = 15_000 } = {}) {
      assertNoCrash();
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (true) {
        const live = cluster.live();
        const problems: string[] = [];
        await Promise.all(live.map(async (k) => {
          try {
            const s = (await cluster.request(k, '/status')).json;
            for (const other of live) {
              if (other === k) continue;
              const m = (s?.cluster ?? []).find((c: { id: string }) => c.id === id(other));
              if (!m || m.state !== 'online' || m.url !== cluster.url(other)) {
                problems.push(`${id(k)} sees ${id(other)} as ${m ? `${m.state} at ${m.url}` : 'unknown'}`);
              }
            }
          } catch (err) {
            problems.push(`${id(k)}: ${(err as Error).message}`);
          }
        }));
        if (problems.length === 0) return;
        assertNoCrash();
        last = problems.join('; ');
        if (Date.now() > deadline) throw new Error(`the nodes do not all see each other online after ${timeoutMs} ms: ${last}`);
        await sleep(100);
      }
    },

    async waitConverged({ timeoutMs = 30_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      let problem = '';
      while (true) {
        const live = cluster.live();
        try {
          problem = await convergenceProblem(cluster, live);
          if (!problem) return await cluster.list(live[0]);
        } catch (err) {
          problem = `request failed: ${(err as Error).message}`;
        }
        assertNoCrash();
        if (Date.now() > deadline) throw new Error(`the nodes did not converge within ${timeoutMs} ms:\n${problem}`);
        await sleep(200);
      }
    },

    async request(k, target, init = {}) {
      const headers = new Headers(init.headers);
      for (const [name, value] of Object.entries(auth)) if (!headers.has(name)) headers.set(name, value);
      const started = performance.now();
      const res = await fetch(cluster.url(k) + target, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(20_000) });
      const body = Buffer.from(await res.arrayBuffer());
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
      return { status: res.status, json, body, headers: res.headers, ms: performance.now() - started };
    },

    put(k, path, body, { w, headers } = {}) {
      return cluster.request(k, filesTarget(path) + (w === undefined ? '' : `?w=${w}`), { method: 'PUT', body: body as BodyInit, headers });
    },
    get: (k, path) => cluster.request(k, filesTarget(path)),
    remove: (k, path, { w } = {}) => cluster.request(k, filesTarget(path) + (w === undefined ? '' : `?w=${w}`), { method: 'DELETE' }),
    move: (k, from, to, { w } = {}) =>
      cluster.request(k, filesTarget(from) + (w === undefined ? '' : `?w=${w}`), { method: 'MOVE', headers: { destination: filesTarget(to) } }),
    mkcol: (k, path, { w } = {}) => cluster.request(k, filesTarget(path) + (w === undefined ? '' : `?w=${w}`), { method: 'MKCOL' }),

    async list(k) {
      const out: ListedRecord[] = [];
      let cursor = '';
      for (let page = 0; page < 10_000; page++) {
        const res = await cluster.request(k, `/files/?recursive=true&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (res.status !== 200) throw new Error(`${id(k)} GET /files/?recursive=true answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
        out.push(...res.json.entries);
        cursor = res.json.next_cursor;
        if (!cursor) return out;
      }
      throw new Error(`${id(k)}: the listing never ended`);
    },

    async metric(k, name) {
      const text = (await cluster.request(k, '/metrics')).body.toString('utf8');
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
        if (m && m[1] === name) sum += Number(m[3]);
      }
      return sum;
    },

    crashes: () => [...crashes],

    logs(k, lines = 40) {
      return (outputs.get(k) ?? []).slice(-lines).join('\n');
    },

    async close() {
      if (closed) return;
      closed = true;
      const all = [...procs.values()];
      procs.clear(); // from here on, exits are expected
      if (process.env.NUVEM_CLUSTER_LOGS) {
        for (const k of ks) console.log(`\n--- ${id(k)} log\n${cluster.logs(k, 200)}`);
      }
      await Promise.all(all.map((p) => p.kill()));
      await broker.stop().catch(() => {});
      dir.cleanup();
    },
  };

  try {
    await Promise.all(ks.map((k) => launch(k, 0)));
    await cluster.waitMesh({ timeoutMs: 20_000 });
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** Starts a cluster, runs `fn`, and always stops the cluster. */
export async function withCluster<T>(options: ClusterOptions, fn: (cluster: Cluster) => Promise<T>): Promise<T> {
  const cluster = await startCluster(options);
  try {
    return await fn(cluster);
  } finally {
    await cluster.close();
  }
}

const recordKey = (r: ListedRecord) => `${r.path} ${r.type} ${r.version ?? '-'} ${r.sha256 ?? '-'}`;

/** Why the running nodes are not converged ('' when they are). */
async function convergenceProblem(cluster: Cluster, live: number[]): Promise<string> {
  const listings = await Promise.all(live.map((k) => cluster.list(k)));
  const keys = listings.map((l) => l.map(recordKey).sort());
  const base = keys[0];
  const diffs: string[] = [];
  for (let i = 1; i < live.length; i++) {
    const mine = new Set(keys[i]);
    const theirs = new Set(base);
    const missing = base.filter((x) => !mine.has(x));
    const extra = keys[i].filter((x) => !theirs.has(x));
    if (missing.length || extra.length) {
      diffs.push(`${cluster.id(live[i])} vs ${cluster.id(live[0])}: lacks [${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}]` +
        ` has extra [${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', …' : ''}]`);
    }
  }
  if (diffs.length) return diffs.join('\n');
  // Same records: now the bytes behind them.
  const files = listings[0].filter((r) => r.type === 'file');
  const bad: string[] = [];
  for (const k of live) {
    for (let i = 0; i < files.length; i += 16) {
      await Promise.all(files.slice(i, i + 16).map(async (r) => {
        const res = await cluster.get(k, r.path);
        const got = res.status === 200 ? sha256(res.body) : `status ${res.status}`;
        if (got !== r.sha256) bad.push(`${cluster.id(k)} serves ${r.path} as ${got}, its record says ${r.sha256}`);
      }));
    }
  }
  return bad.slice(0, 10).join('\n');
}
