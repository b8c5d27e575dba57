/**
 * Cluster benchmark: three Nuvem nodes on loopback, once over the embedded
 * Aedes broker (run standalone, `broker/main.ts`) and once over Mosquitto,
 * side by side: 4 KiB PUT latency (c=1) and throughput (c=16) with w=1 and
 * w=auto, time from a 2xx to the replicas' acks, failure detection (kill -9
 * → Last Will), catch-up of a node that missed many writes, and 64 MiB
 * replication throughput against a single node.
 *
 * Run: `npx tsx bench/cluster.ts` after `npm run build` (the nodes run from
 * dist/nuvem-node.cjs under plain node, as `npm start` does).
 * `BENCH_QUICK=1` shrinks the runs; `BENCH_ONLY=aedes` or `=mosquitto` picks
 * one broker; `BENCH_STEPS=catchup,consistency` (names as in the JSON's
 * `errors` keys) runs only some measurements; `BENCH_MOSQUITTO_NODELAY=1`
 * adds `set_tcp_nodelay true` to Mosquitto's config (stock: Nagle on). Results: table on stdout, JSON in bench/results/cluster.json,
 * every line the nodes and brokers printed in bench/results/cluster.log.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeResult } from "./results_dir.ts";
import { flushDisk, processCpuMs } from "./measure.ts";
import { findWrk, runWrk } from "./load.ts";
import { freePort } from "./nginx.ts";
import { killAllChildren } from "./server_proc.ts";
import {
  aedesVersion, getStatus, LogBook, mosquittoVersion, sleep, startBroker, startNode, waitClusterFormed, waitConverged,
  type BrokerKind, type BrokerProc, type NodeProc, type NodeSpec, type NodeStatus,
} from "./cluster_procs.ts";
import { median, percentile, putBody, putMany, putStream, watch, wrkPutScript, type Watcher } from "./cluster_load.ts";
import {
  table, tableRows, targetLines, targets,
  type AckResult, type BrokerResult, type Brokers, type CatchupResult, type LatencyResult, type ThroughputResult,
} from "./cluster_report.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = new Set((process.env.BENCH_ONLY ?? "aedes,mosquitto").split(","));
const STEP_NAMES = ["warm_up", "lat_w1", "lat_auto", "tput_w1", "tput_auto", "ack_small", "failure", "catchup", "ack_big", "repl_big", "single_big", "consistency"];
const STEPS = new Set(process.env.BENCH_STEPS ? process.env.BENCH_STEPS.split(",") : STEP_NAMES);
const MiB = 1 << 20;
const SMALL = 4096;
const BIG = 64 * MiB;
const LAT_REQUESTS = QUICK ? 100 : 300;
const LAT_WARM = 30;
const CONNECTIONS = 16;
const WRK_SECONDS = QUICK ? 2 : 5;
const ACK_SMALL = QUICK ? 20 : 50;
const ACK_BIG = 3;
/** Untimed 64 MiB PUTs before the timed ones, so both set-ups are measured warm (JIT-compiled paths). */
const BIG_WARM = 3;
const FAIL_RUNS = 3;
const CATCHUP_FILES = QUICK ? 1_000 : 10_000;
const BIG_RUNS = 5;
const NODES = 3;
const CONVERGE_MS = 180_000;
const REPO = fileURLToPath(new URL("..", import.meta.url));
const BUNDLE = join(REPO, "dist", "nuvem-node.cjs");

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const pad = (i: number, n = 5) => String(i).padStart(n, "0");
const load1 = () => loadavg()[0];
const book = new LogBook();

function blank(name: BrokerKind, reason?: string, version?: string): BrokerResult {
  return { name, version, status: reason ? "skipped" : "ok", reason, errors: {}, notes: [] };
}

/** One measurement; a failure is recorded and the others still run. */
async function step(res: BrokerResult, key: string, fn: () => Promise<void>): Promise<void> {
  if (!STEPS.has(key)) return;
  book.phase = `${res.name}:${key}`;
  log(`${res.name}: ${key} (load ${load1().toFixed(2)})`);
  try {
    await fn();
  } catch (err) {
    res.errors[key] = errorText(err);
    log(`${res.name}: ${key} failed: ${res.errors[key]}`);
  }
}

/** The message and the causes (undici's "fetch failed" hides the reason in `cause`). */
function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; cause?: unknown; code?: string } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    parts.push(`${e.message ?? String(e)}${e.code ? ` (${e.code})` : ""}`);
  }
  return parts.join(": ");
}

function note(res: BrokerResult, text: string) {
  res.notes.push(text);
  log(`${res.name}: NOTE: ${text}`);
}

/** The running cluster of one broker run; `nodes[i]` is replaced when node i+1 restarts. */
interface Cluster {
  broker: BrokerProc;
  specs: NodeSpec[];
  nodes: NodeProc[];
  watcher: Watcher;
  /** Acks for node-1's changes: seq → node → arrival (performance.now()). */
  acks: Map<number, Map<string, number>>;
  /** Arrival of node-1's change notices for the ack samples: seq → performance.now(). */
  notices: Map<number, number>;
  dir: string;
}

const node = (c: Cluster, k: number) => c.nodes[k - 1];
const startOne = (spec: NodeSpec) => startNode(spec, { bundle: BUNDLE, repo: REPO, book, timeoutMs: 60_000 });
const live = (c: Cluster) => c.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);

async function converge(c: Cluster, res: BrokerResult, what: string): Promise<number> {
  try {
    return await waitConverged(live(c), CONVERGE_MS);
  } catch (err) {
    note(res, `after ${what}: ${(err as Error).message}`);
    throw err;
  }
}

// --- measurements

async function latency(c: Cluster, res: BrokerResult, w: "1" | "auto"): Promise<LatencyResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const base = `${node(c, 1).url}/files/bench/lat-w${w}`;
  try {
    for (let i = 0; i < LAT_WARM; i++) await putBody(`${base}/warm/f${pad(i)}?w=${w}`, randomBytes(SMALL), agent);
    await converge(c, res, `w=${w} warm-up`);
    const ms: number[] = [];
    let non2xx = 0;
    let firstError: string | undefined;
    for (let i = 0; i < LAT_REQUESTS; i++) {
      const r = await putBody(`${base}/run/f${pad(i)}?w=${w}`, randomBytes(SMALL), agent);
      ms.push(r.end - r.start);
      if (r.status >= 300) {
        non2xx++;
        firstError ??= `${r.status} ${r.text.slice(0, 300)}`;
      }
    }
    if (non2xx) note(res, `${non2xx} of ${LAT_REQUESTS} sequential w=${w} PUTs were not 2xx; first: ${firstError}`);
    const out: LatencyResult = {
      requests: ms.length, p50ms: percentile(ms, 50), p99ms: percentile(ms, 99),
      meanms: ms.reduce((a, b) => a + b, 0) / ms.length, maxms: Math.max(...ms), non2xx, firstError,
    };
    log(`${res.name}: w=${w} c=1: p50 ${out.p50ms.toFixed(2)} ms, p99 ${out.p99ms.toFixed(2)} ms, max ${out.maxms.toFixed(1)} ms`);
    await converge(c, res, `w=${w} latency run`);
    return out;
  } finally {
    agent.destroy();
  }
}

async function throughput(c: Cluster, res: BrokerResult, w: "1" | "auto", tmp: string): Promise<ThroughputResult> {
  const url = node(c, 1).url;
  const warm = wrkPutScript(tmp, `${res.name}_warm_w${w}`, { prefix: `/files/bench/c16-w${w}/warm/`, query: `?w=${w}`, bytes: SMALL });
  const run = wrkPutScript(tmp, `${res.name}_run_w${w}`, { prefix: `/files/bench/c16-w${w}/run/`, query: `?w=${w}`, bytes: SMALL });
  await runWrk(url, { script: warm, connections: CONNECTIONS, seconds: 1 });
  await converge(c, res, `w=${w} c=16 warm-up`);
  const r = await runWrk(url, { script: run, connections: CONNECTIONS, seconds: WRK_SECONDS });
  const ended = performance.now();
  if (r.requests === 0) throw new Error("wrk completed no request");
  const bad = r.non2xx + r.errors;
  if (bad) note(res, `w=${w} c=16: ${bad} of ${r.requests} requests failed (non-2xx ${r.non2xx}, socket ${r.errors})`);
  await converge(c, res, `w=${w} c=16 run`);
  const drain_s = (performance.now() - ended) / 1000;
  log(`${res.name}: w=${w} c=16: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms; replicas caught up ${drain_s.toFixed(2)} s after the last answer`);
  return { ...r, drain_s };
}

/** PUT with w=1 to node 1, then the time from its 2xx (response headers) until both replicas' acks arrived here. */
async function ackTiming(c: Cluster, res: BrokerResult, size: number, samples: number): Promise<AckResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const replicas = c.nodes.filter((n) => n.id !== "node-1").map((n) => n.id);
  const label = size === SMALL ? "4k" : "64m";
  const waitMs = size === SMALL ? 10_000 : 60_000;
  const runs: number[] = [];
  const firsts: number[] = [];
  const fromNotice: number[] = [];
  const noticeVs2xx: number[] = [];
  const missing: string[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      if (size !== SMALL) {
        await converge(c, res, "a 64 MiB ack sample");
        flushDisk();
      }
      const url = `${node(c, 1).url}/files/bench/ack-${label}/f${pad(i)}?w=1`;
      const r = size === SMALL ? await putBody(url, randomBytes(SMALL), agent) : await putStream(url, size);
      if (r.status >= 300 || !r.json) throw new Error(`PUT ${url} answered ${r.status}: ${r.text.slice(0, 300)}`);
      const seq = r.json.seq as number;
      if (r.json.origin !== "node-1") throw new Error(`PUT ${url} answered origin ${r.json.origin}, expected node-1`);
      const both = () => replicas.every((id) => c.acks.get(seq)?.has(id));
      if (!both()) {
        await c.watcher.waitFor((topic) => topic === "nuvem/acks/node-1" && both(), waitMs);
      }
      const got = c.acks.get(seq);
      if (!both()) {
        const lacking = replicas.filter((id) => !got?.has(id));
        const st = await Promise.all(lacking.map((id) => getStatus(c.nodes.find((n) => n.id === id)!.url).catch(() => undefined)));
        const detail = lacking.map((id, j) => `${id} ${(st[j]?.applied["node-1"] ?? 0) >= seq ? "applied it (ack lost)" : `has not applied it (applied ${st[j]?.applied["node-1"]})`}`);
        missing.push(`seq ${seq}: no ack within ${waitMs / 1000} s from ${detail.join(", ")}`);
        continue;
      }
      const times = replicas.map((id) => got!.get(id)!);
      runs.push(Math.max(...times) - r.headersAt);
      firsts.push(Math.min(...times) - r.headersAt);
      const noticeAt = c.notices.get(seq);
      if (noticeAt !== undefined) {
        fromNotice.push(Math.max(...times) - noticeAt);
        noticeVs2xx.push(noticeAt - r.headersAt);
      }
    }
  } finally {
    agent.destroy();
  }
  if (missing.length) note(res, `${missing.length} of ${samples} ${label} PUTs lacked a replica's ack: ${missing.slice(0, 3).join("; ")}`);
  if (!runs.length) throw new Error(`no PUT got both acks: ${missing[0]}`);
  const out: AckResult = {
    samples, runs_ms: runs, median_ms: median(runs), p90_ms: percentile(runs, 90), max_ms: Math.max(...runs),
    first_ack_median_ms: median(firsts), missing: missing.length, missing_detail: missing,
    notice_to_last_ack_median_ms: median(fromNotice), notice_minus_2xx_median_ms: median(noticeVs2xx), notices_seen: fromNotice.length,
  };
  log(`${res.name}: 2xx → last ack (${label}): median ${out.median_ms.toFixed(2)} ms, p90 ${out.p90_ms.toFixed(2)} ms, max ${out.max_ms.toFixed(1)} ms, first ack median ${out.first_ack_median_ms.toFixed(2)} ms; change notice → last ack median ${out.notice_to_last_ack_median_ms.toFixed(2)} ms, notice arrived ${out.notice_minus_2xx_median_ms.toFixed(2)} ms after the 2xx (median)`);
  return out;
}

/**
 * 64 MiB PUTs to the cluster (w=auto, to node-1) and to a standalone fourth
 * node on the same disk (no broker: nothing listens on port 1; w=1), the two
 * taking turns run by run, so that the ratio between them is not a ratio
 * between two minutes of a VM. Untimed warm-ups first on both.
 */
async function bigPuts(c: Cluster, res: BrokerResult, dir: string) {
  const kinds = (["repl_big", "single_big"] as const).filter((k) => STEPS.has(k));
  if (kinds.length === 0) return;
  const spec: NodeSpec = { id: "single", port: await freePort(), dataDir: join(dir, "single"), brokerUrl: "mqtt://127.0.0.1:1" };
  const single = kinds.includes("single_big") ? await startOne(spec) : undefined;
  const runs: Record<(typeof kinds)[number], number[]> = { repl_big: [], single_big: [] };
  const cpu: Record<(typeof kinds)[number], { nodes: number[]; client: number[]; wall: number[] }> = {
    repl_big: { nodes: [], client: [], wall: [] },
    single_big: { nodes: [], client: [], wall: [] },
  };
  try {
    await step(res, kinds[0], async () => {
      for (let i = 0; i < BIG_WARM; i++) {
        if (kinds.includes("repl_big")) await putStream(`${node(c, 1).url}/files/bench/repl/warm${i}.bin?w=auto`, BIG);
        if (single) await putStream(`${single.url}/files/bench/single/warm${i}.bin?w=1`, BIG);
      }
    });
    for (let i = 0; i < BIG_RUNS; i++) {
      for (let j = 0; j < kinds.length; j++) {
        const kind = kinds[(i + j) % kinds.length];
        await step(res, kind, async () => {
          if (kind === "repl_big") await converge(c, res, "a 64 MiB PUT");
          flushDisk();
          const url = kind === "repl_big" ? `${node(c, 1).url}/files/bench/repl/r${i}.bin?w=auto` : `${single!.url}/files/bench/single/r${i}.bin?w=1`;
          const pids = kind === "repl_big" ? c.nodes.map((n) => n.pid) : [single!.pid];
          const nodesCpu = () => pids.reduce<number | undefined>((sum, pid) => {
            const ms = processCpuMs(pid);
            return sum === undefined || ms === undefined ? undefined : sum + ms;
          }, 0);
          const cpuBefore = nodesCpu();
          const clientBefore = process.cpuUsage();
          const r = await putStream(url, BIG);
          const client = process.cpuUsage(clientBefore);
          const cpuAfter = nodesCpu();
          if (r.status >= 300) throw new Error(`${kind === "repl_big" ? "cluster" : "single-node"} 64 MiB PUT answered ${r.status}: ${r.text.slice(0, 300)}`);
          if (cpuBefore !== undefined && cpuAfter !== undefined) {
            cpu[kind].nodes.push(cpuAfter - cpuBefore);
            cpu[kind].client.push((client.user + client.system) / 1000);
            cpu[kind].wall.push(r.headersAt - r.start);
          }
          if (kind === "repl_big") {
            const holders = (r.json?.replicas as string[] | undefined) ?? [];
            if (holders.length !== NODES) note(res, `64 MiB PUT w=auto answered ${r.status} with replicas ${JSON.stringify(holders)}, expected all ${NODES}`);
          }
          runs[kind].push(r.mbps);
          log(`${res.name}: ${kind === "repl_big" ? "cluster 64 MiB PUT w=auto" : "single-node 64 MiB PUT w=1"} run ${i + 1}/${BIG_RUNS}: ${r.mbps.toFixed(0)} MB/s` +
            (cpu[kind].nodes.length ? `, CPU ${cpu[kind].nodes.at(-1)} ms in the node(s) + ${cpu[kind].client.at(-1)!.toFixed(0)} ms in this client` : ""));
        });
      }
    }
    for (const kind of kinds) {
      if (runs[kind].length !== BIG_RUNS) continue;
      const k = cpu[kind];
      res[kind] = { runs_mbps: runs[kind], mbps: median(runs[kind]) };
      if (k.nodes.length === BIG_RUNS) Object.assign(res[kind]!, { nodes_cpu_ms: median(k.nodes), client_cpu_ms: median(k.client), wall_ms: median(k.wall) });
    }
  } finally {
    await single?.stop();
    rmSync(spec.dataDir, { recursive: true, force: true });
  }
}

async function failureDetection(c: Cluster, res: BrokerResult) {
  const runs: number[] = [];
  const peer: number[] = [];
  const online: number[] = [];
  const convergedMs: number[] = [];
  const victim = 3;
  const topic = `nuvem/nodes/node-${victim}/status`;
  for (let i = 0; i < FAIL_RUNS; i++) {
    await converge(c, res, "a restart");
    await sleep(500);
    const offline = c.watcher.waitFor((t, m) => t === topic && m?.state === "offline", 15_000);
    const n1 = node(c, 1);
    let stopPoll = false;
    const peerView = (async () => {
      while (!stopPoll) {
        const st = await getStatus(n1.url).catch(() => undefined);
        if (st?.cluster?.some((m) => m.id === `node-${victim}` && m.state !== "online")) return performance.now();
        await sleep(20);
      }
      return undefined;
    })();
    const t0 = performance.now();
    await node(c, victim).kill9();
    const at = await offline;
    const peerAt = await Promise.race([peerView, sleep(15_000).then(() => undefined)]);
    stopPoll = true;
    if (at === undefined) note(res, `run ${i + 1}: no "offline" status for node-${victim} within 15 s of kill -9`);
    else runs.push(at - t0);
    if (peerAt === undefined) note(res, `run ${i + 1}: node-1's /status still listed node-${victim} online 15 s after kill -9`);
    else peer.push(peerAt - t0);
    log(`${res.name}: kill -9 run ${i + 1}/${FAIL_RUNS}: offline status after ${at === undefined ? "—" : (at - t0).toFixed(1)} ms, node-1 /status after ${peerAt === undefined ? "—" : (peerAt - t0).toFixed(1)} ms`);
    const back = c.watcher.waitFor((t, m) => t === topic && m?.state === "online", 60_000);
    const t1 = performance.now();
    c.nodes[victim - 1] = await startOne(c.specs[victim - 1]);
    const onlineAt = await back;
    if (onlineAt !== undefined) online.push(onlineAt - t1);
    await converge(c, res, "a restart after kill -9");
    convergedMs.push(performance.now() - t1);
  }
  if (!runs.length) throw new Error("no offline status arrived in any run");
  return {
    runs_ms: runs, median_ms: median(runs), peer_view_runs_ms: peer, peer_view_median_ms: median(peer),
    restart_online_ms: online, restart_converged_ms: convergedMs,
  };
}

async function catchUp(c: Cluster, res: BrokerResult): Promise<CatchupResult> {
  await converge(c, res, "before the catch-up");
  const n1 = node(c, 1);
  const n2 = node(c, 2);
  const before = (await getStatus(node(c, 3).url)).applied["node-1"] ?? 0;
  await node(c, 3).stop();
  await sleep(300);
  const t0 = performance.now();
  await putMany(n1.url, {
    count: CATCHUP_FILES, concurrency: CONNECTIONS, bodyOf: () => randomBytes(SMALL),
    pathOf: (i) => `/files/bench/catchup/d${pad(Math.floor(i / 1000), 2)}/f${pad(i)}?w=1`,
  });
  const wroteAt = performance.now();
  const write_s = (wroteAt - t0) / 1000;
  const seq = (await getStatus(n1.url)).seq;
  const node2AtWritesEnd = (await getStatus(n2.url).catch(() => undefined))?.applied["node-1"];
  log(`${res.name}: wrote ${CATCHUP_FILES} files with node-3 down in ${write_s.toFixed(2)} s (${(CATCHUP_FILES / write_s).toFixed(0)}/s); node-1 seq ${seq}, node-2 had applied ${node2AtWritesEnd}`);
  // Let node 2 finish applying first, so node 3's catch-up is timed on its own.
  let node2At = 0;
  let st2: NodeStatus | undefined;
  let lastLog2 = 0;
  const progress2: [number, number][] = [];
  for (const deadline = performance.now() + CONVERGE_MS; performance.now() < deadline;) {
    st2 = await getStatus(n2.url).catch(() => st2);
    if (st2 && (st2.applied["node-1"] ?? 0) >= seq) { node2At = performance.now(); break; }
    if (performance.now() - lastLog2 >= 5000) {
      lastLog2 = performance.now();
      progress2.push([(lastLog2 - wroteAt) / 1000, st2?.applied["node-1"] ?? 0]);
      const view = st2?.cluster?.find((m) => m.id === "node-1");
      log(`${res.name}: node-2 ${((lastLog2 - wroteAt) / 1000).toFixed(0)} s after the writes: applied[node-1] ${st2?.applied["node-1"]} of ${seq}, lag ${st2?.lag}; it sees node-1 ${view?.state} (heartbeat ${view?.heartbeatAgeMs} ms old)`);
    }
    await sleep(100);
  }
  if (!node2At) {
    note(res, `node-2 had not applied node-1's ${seq} changes ${CONVERGE_MS / 1000} s after the writes: applied[node-1] ${st2?.applied["node-1"]}, lag ${st2?.lag}; progress [s after writes, applied]: ${JSON.stringify(progress2.filter((_, i) => i % 3 === 0))}`);
  }
  const node2_drain_s = node2At ? (node2At - wroteAt) / 1000 : NaN;
  flushDisk();
  const out: CatchupResult = {
    files: CATCHUP_FILES, write_s, write_rps: CATCHUP_FILES / write_s, node2_drain_s, node2_progress: progress2, node1_seq: seq, node3_applied_before: before, progress: [],
  };
  const n3 = await startOne(c.specs[2]);
  c.nodes[2] = n3;
  let lastLog = 0;
  let last: NodeStatus | undefined;
  const limitMs = Math.max(120_000, CATCHUP_FILES * 30);
  for (;;) {
    last = await getStatus(n3.url).catch(() => last);
    const now = performance.now();
    const applied = last?.applied["node-1"] ?? 0;
    if (last && last.lag === 0 && applied >= seq) {
      out.from_spawn_s = (now - n3.spawnedAt) / 1000;
      out.from_listening_s = (now - n3.listeningAt) / 1000;
      // CPU the catching-up node used (all threads): steadier than wall time on a busy machine.
      out.node3_cpu_s = (processCpuMs(n3.pid) ?? NaN) / 1000;
      break;
    }
    if (now - lastLog >= 1000) {
      lastLog = now;
      out.progress.push([(now - n3.spawnedAt) / 1000, applied]);
    }
    if (now - n3.spawnedAt > limitMs) {
      throw new Error(`node-3 not caught up ${limitMs / 1000} s after start: applied[node-1] ${applied} of ${seq}, lag ${last?.lag}`);
    }
    await sleep(100);
  }
  out.progress.push([out.from_spawn_s!, seq]);
  log(`${res.name}: node-3 caught up ${seq - before} changes in ${out.from_spawn_s!.toFixed(2)} s from spawn (${out.from_listening_s!.toFixed(2)} s from "listening"), using ${out.node3_cpu_s!.toFixed(2)} s of CPU`);
  await converge(c, res, "the catch-up");
  return out;
}

/** Lists every node's records (recursive, all pages) and compares path → version; returns differences. */
async function compareReplicas(c: Cluster): Promise<{ files: Record<string, number>; differences: string[] }> {
  const maps = await Promise.all(c.nodes.map(async (n) => {
    const m = new Map<string, string>();
    let cursor = "";
    do {
      const url = `${n.url}/files/?recursive=true&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      // One retry: a keep-alive socket the node closed just then fails the first try.
      const res = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch(() => fetch(url, { signal: AbortSignal.timeout(30_000) }));
      if (!res.ok) throw new Error(`listing ${n.id} answered ${res.status}`);
      const page = (await res.json()) as { entries: { path: string; version: string; deleted?: boolean; type?: string }[]; next_cursor?: string };
      for (const e of page.entries) m.set(e.path, `${e.version}${e.deleted ? " (deleted)" : ""}`);
      cursor = page.next_cursor ?? "";
    } while (cursor);
    return m;
  }));
  const differences: string[] = [];
  const all = new Set(maps.flatMap((m) => [...m.keys()]));
  for (const p of all) {
    const vs = maps.map((m) => m.get(p) ?? "missing");
    if (new Set(vs).size > 1) differences.push(`${p}: ${c.nodes.map((n, i) => `${n.id}=${vs[i]}`).join(" ")}`);
  }
  return { files: Object.fromEntries(c.nodes.map((n, i) => [n.id, maps[i].size])), differences };
}

// --- one broker

async function runBroker(res: BrokerResult, tmp: string, wrk: string | undefined): Promise<void> {
  if (res.status === "skipped") {
    log(`${res.name}: skipped: ${res.reason}`);
    return;
  }
  const dir = join(tmp, res.name);
  mkdirSync(dir, { recursive: true });
  let c: Cluster | undefined;
  let broker: BrokerProc | undefined;
  const nodes: NodeProc[] = [];
  let watcher: Watcher | undefined;
  res.load_start = load1();
  book.phase = `${res.name}:start`;
  try {
    broker = await startBroker(res.name, { port: await freePort(), repo: REPO, dir, book });
    log(`${res.name}: broker at ${broker.url} (pid ${broker.pid})`);
    const acks = new Map<number, Map<string, number>>();
    const notices = new Map<number, number>();
    const topics = ["nuvem/acks/node-1", "nuvem/nodes/+/status", "nuvem/files/bench/ack-4k/#", "nuvem/files/bench/ack-64m/#"];
    watcher = await watch(broker.url, topics, (topic, msg, at) => {
      if (typeof msg?.seq !== "number") return;
      if (topic.startsWith("nuvem/files/") && msg.origin === "node-1") notices.set(msg.seq, at);
      if (topic !== "nuvem/acks/node-1") return;
      let m = acks.get(msg.seq);
      if (!m) acks.set(msg.seq, (m = new Map()));
      if (!m.has(msg.node)) m.set(msg.node, at);
    });
    const specs: NodeSpec[] = [];
    for (let k = 1; k <= NODES; k++) {
      specs.push({ id: `node-${k}`, port: await freePort(), dataDir: join(dir, `node-${k}`), brokerUrl: broker.url });
    }
    for (const spec of specs) nodes.push(await startOne(spec));
    c = { broker, specs, nodes, watcher, acks, notices, dir };
    const formed = await waitClusterFormed(nodes, 30_000);
    log(`${res.name}: ${nodes.map((n) => `${n.id} ${n.url} (pid ${n.pid})`).join(", ")}; every node saw the others online after ${formed.toFixed(0)} ms`);
    const cl = c;
    await step(res, "warm_up", async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      try {
        for (let i = 0; i < 50; i++) await putBody(`${node(cl, 1).url}/files/bench/warm/f${pad(i)}?w=auto`, randomBytes(SMALL), agent);
      } finally {
        agent.destroy();
      }
      await converge(cl, res, "warm-up");
    });
    await step(res, "lat_w1", async () => { res.lat_w1 = await latency(cl, res, "1"); });
    await step(res, "lat_auto", async () => { res.lat_auto = await latency(cl, res, "auto"); });
    if (wrk) {
      flushDisk();
      await step(res, "tput_w1", async () => { res.tput_w1 = await throughput(cl, res, "1", tmp); });
      flushDisk();
      await step(res, "tput_auto", async () => { res.tput_auto = await throughput(cl, res, "auto", tmp); });
    } else {
      res.errors.tput_w1 = res.errors.tput_auto = "wrk is not installed (apt-get install -y wrk)";
    }
    await step(res, "ack_small", async () => { await converge(cl, res, "throughput"); res.ack_small = await ackTiming(cl, res, SMALL, ACK_SMALL); });
    await step(res, "failure", async () => { res.failure = await failureDetection(cl, res); });
    await step(res, "catchup", async () => { res.catchup = await catchUp(cl, res); });
    // The 64 MiB steps last: after GiBs of writes this VM's disk takes its
    // durable small writes at half speed for seconds, even after a sync (300
    // serial 4 KiB fdatasyncs: 1,200-1,600/s before 1.5 GB was written, 640/s
    // after), and the catch-up, run after them, took up to 42 s instead of 20-25.
    await step(res, "ack_big", async () => { res.ack_big = await ackTiming(cl, res, BIG, ACK_BIG); });
    await bigPuts(cl, res, dir);
    await step(res, "consistency", async () => {
      await converge(cl, res, "all measurements");
      const cmp = await compareReplicas(cl);
      log(`${res.name}: records per node ${JSON.stringify(cmp.files)}; ${cmp.differences.length} path(s) differ`);
      if (cmp.differences.length) note(res, `after convergence ${cmp.differences.length} path(s) differ between nodes, e.g. ${cmp.differences.slice(0, 3).join("; ")}`);
      if (res.catchup) res.catchup.files_equal = cmp.differences.length === 0;
      // Counters that should stay at zero in a healthy run.
      for (const n of cl.nodes) {
        const text = await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text());
        const odd = text.split("\n").filter((l) => /^nuvem_(mqtt_ignored|anti_entropy_repairs|conflicts)_total/.test(l) && !/\s0$/.test(l));
        if (odd.length) note(res, `${n.id} /metrics: ${odd.join(", ")}`);
      }
    });
  } catch (err) {
    res.status = "failed";
    res.reason = (err as Error).message;
    log(`${res.name}: failed: ${res.reason}`);
  } finally {
    book.phase = `${res.name}:stop`;
    await watcher?.close();
    for (const n of c?.nodes ?? nodes) await n.stop().catch(() => {});
    await broker?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    res.load_end = load1();
  }
}

let loadAtStart = 0;

async function main() {
  const wrk = findWrk();
  const mosq = mosquittoVersion();
  const sys: Brokers = {
    aedes: blank("aedes", !ONLY.has("aedes") ? "not selected (BENCH_ONLY)" : undefined, aedesVersion(REPO)),
    mosquitto: blank("mosquitto", !ONLY.has("mosquitto") ? "not selected (BENCH_ONLY)"
      : mosq ? undefined : "mosquitto is not installed (apt-get install -y mosquitto)", mosq),
  };
  if (!existsSync(BUNDLE)) {
    for (const b of [sys.aedes, sys.mosquitto]) if (b.status === "ok") { b.status = "skipped"; b.reason = "dist/nuvem-node.cjs is missing: run `npm run build`"; }
  }
  if (!wrk) log("wrk is not installed (apt-get install -y wrk): c=16 rows will be n/a");
  const tmp = mkdtempSync(join(tmpdir(), "nuvem-cluster-bench-"));
  const onSignal = () => { killAllChildren(); rmSync(tmp, { recursive: true, force: true }); process.exit(130); };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  loadAtStart = load1();
  if (loadAtStart > 0.5) log(`warning: load average is ${loadAtStart.toFixed(2)} before starting; figures will be noisy`);
  log(`${QUICK ? "quick" : "full"} run: ${LAT_REQUESTS} sequential PUTs, wrk ${WRK_SECONDS} s, ${ACK_SMALL} + ${ACK_BIG} ack samples, catch-up of ${CATCHUP_FILES} files, temp ${tmp}`);
  try {
    await runBroker(sys.aedes, tmp, wrk);
    await runBroker(sys.mosquitto, tmp, wrk);
  } finally {
    killAllChildren();
    rmSync(tmp, { recursive: true, force: true });
  }
  report(sys, { wrk, mosquitto: mosq });
}

function report(sys: Brokers, tools: { wrk?: string; mosquitto?: string }) {
  const notes = [
    "3 nodes and the broker on one machine (loopback); the bench's own client runs there too. Ratio = Aedes ÷ Mosquitto (for ms and s lower is better).",
    `c=1: ${LAT_REQUESTS} sequential 4 KiB PUTs to node-1 over one keep-alive connection, each to a new path, after ${LAT_WARM} untimed; request start → end of answer.`,
    "Every 4 KiB body is unique (random, or tagged with a counter under wrk): a replica holding the same SHA-256 would copy it locally instead of fetching it.",
    `c=16: wrk -t1 -c${CONNECTIONS} -d${WRK_SECONDS}s after a 1 s warm-up, every request a new path; "replicas drain the backlog" = last answer → every node applied every change (w=1 answers before replicas apply).`,
    `2xx → last ack: PUT ?w=1 to node-1, response headers → arrival of the second replica's ack on nuvem/acks/node-1 at this process's MQTT client (QoS 1); 4 KiB median of ${ACK_SMALL}, 64 MiB median of ${ACK_BIG} (unique content, cluster idle before each). Split: arrival here of node-1's change notice on nuvem/files/… (negative = before the 2xx) and notice → last ack.`,
    `Failure detection: kill -9 of node-3 → its retained "offline" status (Last Will) arriving on nuvem/nodes/+/status; median of ${FAIL_RUNS}, node restarted and cluster converged between runs. Also: → node-1's /status listing it offline (polled every 20 ms).`,
    `Catch-up: node-3 stopped (SIGTERM), ${CATCHUP_FILES.toLocaleString("en-US")} 4 KiB files PUT with w=1 (c=16) to node-1, node-2 left to finish applying, then node-3 started; time from spawn (and from its "listening" line) until its /status shows lag 0 and applied[node-1] = node-1's seq (polled every 100 ms).`,
    `64 MiB: streamed from this process, unique content, \`sync\` before each, median of ${BIG_RUNS} after ${BIG_WARM} untimed ones; MB/s from request start to 2xx. Cluster with w=auto (answers after both replicas applied); single node = a standalone 4th node (no broker) on the same disk with w=1; the two take turns run by run. ` +
    `CPU per PUT: user + system time of the node processes (all threads, /proc, 10 ms ticks) over request start → 2xx, median; "ceiling with every core busy" = single node's wall time ÷ ((cluster nodes' + this client's CPU) ÷ cores), the ratio the cluster would reach if it kept every core busy.`,
    `Mosquitto runs with stock limits (max_queued_messages 1000, max_inflight_messages 20), no persistence, set_tcp_nodelay ${process.env.BENCH_MOSQUITTO_NODELAY === "1" ? "true" : "false (stock)"}; Aedes is broker/main.ts under node --import tsx (TCP_NODELAY on its sockets).`,
    `1-min load average: ${loadAtStart.toFixed(2)} at start, ${load1().toFixed(2)} at end (${cpus().length} cores; other work on the machine skews figures). Per broker: ` +
      [sys.aedes, sys.mosquitto].filter((b) => b.load_start !== undefined).map((b) => `${b.name} ${b.load_start!.toFixed(2)} → ${b.load_end!.toFixed(2)}`).join(", ") + ".",
  ];
  const out: string[] = [`Nuvem cluster benchmark${QUICK ? " (BENCH_QUICK: reduced runs)" : ""}`, "", table(sys, CATCHUP_FILES), ""];
  for (const b of [sys.aedes, sys.mosquitto]) {
    if (b.status !== "ok") out.push(`${b.name}: n/a, ${b.status}: ${b.reason}`);
    for (const [k, v] of Object.entries(b.errors)) out.push(`${b.name}: ${k}: n/a: ${v}`);
    for (const n of b.notes) out.push(`${b.name}: odd: ${n}`);
  }
  const summary = book.summary();
  const warnings = summary.filter((g) => g.level !== "info" && g.level !== "debug");
  if (warnings.length) {
    out.push("", "Node and broker log lines (warn/error and unparsed), by kind:");
    for (const g of warnings.slice(0, 15)) out.push(`  ${String(g.count).padStart(6)}× [${g.source}] ${g.level}: ${g.msg} (in ${g.phases.slice(0, 4).join(", ")}${g.phases.length > 4 ? ", …" : ""})\n           e.g. ${g.first.slice(0, 300)}`);
    if (warnings.length > 15) out.push(`  … ${warnings.length - 15} more kinds in bench/results/cluster.json`);
  }
  out.push(...notes.map((n) => `note: ${n}`), "", "Targets:");
  const ts = targets(sys, CATCHUP_FILES);
  out.push(targetLines(ts));
  console.log(out.join("\n"));
  const json = {
    bench: "cluster",
    date: new Date().toISOString(),
    quick: QUICK,
    sizes: {
      nodes: NODES, small_bytes: SMALL, big_bytes: BIG, latency_requests: LAT_REQUESTS, connections: CONNECTIONS, wrk_seconds: WRK_SECONDS,
      ack_small_samples: ACK_SMALL, ack_big_samples: ACK_BIG, failure_runs: FAIL_RUNS, catchup_files: CATCHUP_FILES, big_runs: BIG_RUNS,
    },
    env: { node: process.version, cpus: cpus().length, kernel: release(), wrk: tools.wrk ?? null, mosquitto: tools.mosquitto ?? null, aedes: sys.aedes.version, load_start: loadAtStart, load_end: load1() },
    brokers: sys,
    table: tableRows(sys, CATCHUP_FILES),
    targets: ts,
    logs: summary.map((g) => ({ ...g, first: g.first.slice(0, 1000), last: g.last.slice(0, 1000) })),
    notes,
  };
  const file = writeResult("cluster.json", JSON.stringify(json, null, 2) + "\n");
  writeResult("cluster.log", book.lines.map((l) => `${l.at} [${l.source}] (${l.phase}) ${l.text}`).join("\n") + "\n");
  log(`results written to ${file} (process output in cluster.log)`);
}

process.on("exit", killAllChildren);
main().catch((err) => {
  console.error(`bench: ${(err as Error).stack ?? err}`);
  killAllChildren();
  process.exitCode = 1;
});
