/**
 * Single-node benchmark: one Nuvem node against a minimal durable
 * `node:http` server (the "Node ref") and nginx with WebDAV PUT, on large
 * streamed transfers, 4 KiB request rates and the node's peak memory.
 *
 * Run: `npm run bench` (or `npx tsx bench/single_node.ts`).
 * `BENCH_QUICK=1` shrinks sizes for a smoke test; `BENCH_ONLY=nuvem,ref,nginx`
 * picks systems. Results: table on stdout, JSON in bench/results/.
 */
import { NODE_ENV, NODE_FLAGS } from "../nodes/node_flags.ts";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeResult } from "./results_dir.ts";
import { flushDisk, median } from "./measure.ts";
import { floorLines, measureFloor, type FloorResult } from "./disk_floor.ts";
import { findWrk, preload, runWrk, streamGet, streamPut, wrkScript, type WrkResult } from "./load.ts";
import { findNginx, freePort, nginxVersion, startNginx } from "./nginx.ts";
import { ratios, table, targetLines, targets, type SystemResult, type Systems } from "./report.ts";
import { killAllChildren, procStatusKiB, resetPeakRss, startServer, type ServerProc } from "./server_proc.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = new Set((process.env.BENCH_ONLY ?? "nuvem,ref,nginx").split(","));
const MiB = 1 << 20;
const BIG = QUICK ? 64 * MiB : 1024 * MiB;
const RSS_SIZE = QUICK ? 128 * MiB : 2048 * MiB;
const WARM = 64 * MiB;
const RUNS = 3;
/** 4 KiB loads: rounds per system, the systems taking turns; the median round is reported. */
const ROUNDS = QUICK ? 1 : 3;
const WRK_SECONDS = QUICK ? 2 : 5;
const SMALL = 4096;
const FILES = 1000;
const CONNECTIONS = 16;
const size = (n: number) => (n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`);
const BIG_LABEL = size(BIG);
const RSS_LABEL = size(RSS_SIZE);
const REPO = fileURLToPath(new URL("..", import.meta.url));

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const smallPath = (i: number) => `/files/bench/small/f${String(i).padStart(4, "0")}`;

function blank(name: string, reason?: string): SystemResult {
  return reason ? { name, status: "skipped", reason, errors: {} } : { name, status: "ok", errors: {} };
}

/** Runs one measurement; a failure is recorded on `res` and does not stop the others. */
async function step(res: SystemResult, key: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    res.errors[key] = (err as Error).message;
    log(`${res.name}: ${key} failed: ${(err as Error).message}`);
  }
}

/** A started system: its results and its server process. */
interface Live { res: SystemResult; server: ServerProc }

/**
 * Runs `fn` for every system, `rounds` times over, each round starting one
 * system later: the systems take turns, so a slow minute of the machine (a
 * VM's neighbours, writeback of an earlier test's bytes) falls on all of
 * them alike instead of on whichever one ran then.
 */
async function interleaved<T>(items: T[], rounds: number, fn: (item: T, round: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < items.length; i++) await fn(items[(i + r) % items.length], r);
  }
}

async function wrkStep(name: string, url: string, script: string, warmUp: boolean): Promise<WrkResult> {
  if (warmUp) await runWrk(url, { script, connections: CONNECTIONS, seconds: 1 });
  const r = await runWrk(url, { script, connections: CONNECTIONS, seconds: WRK_SECONDS });
  const bad = r.non2xx + r.errors;
  if (r.requests === 0) throw new Error("wrk completed no request");
  if (bad > r.requests * 0.01) throw new Error(`${bad} of ${r.requests} requests failed (non-2xx ${r.non2xx}, socket ${r.errors})`);
  log(`${name}: ${script.split("/").pop()} ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms`);
  return r;
}

/** Big PUTs, then big GETs: RUNS of each per system, the systems taking turns; medians kept. */
async function measureBig(live: Live[]) {
  for (const { res, server } of live) {
    await step(res, "warm_up", async () => { // JIT of client and server; not timed
      await streamPut(`${server.url}/files/bench/warm.bin`, WARM);
      await streamGet(`${server.url}/files/bench/warm.bin`, WARM);
    });
  }
  const kinds = [
    { key: "put_big", label: "PUT", transfer: (url: string) => streamPut(url, BIG) },
    { key: "get_big", label: "GET", transfer: (url: string) => streamGet(url, BIG) },
  ] as const;
  for (const { key, label, transfer } of kinds) {
    await interleaved(live, RUNS, ({ res, server }, i) => step(res, key, async () => {
      flushDisk();
      const mbps = (await transfer(`${server.url}/files/bench/big.bin`)).mbps;
      (res[`${key}_runs_mbps`] ??= []).push(mbps);
      log(`${res.name}: ${BIG_LABEL} ${label} run ${i + 1}/${RUNS}: ${mbps.toFixed(0)} MB/s`);
    }));
    for (const { res } of live) {
      const runs = res[`${key}_runs_mbps`];
      if (runs?.length === RUNS) res[`${key}_mbps`] = median(runs);
    }
  }
}

type SmallKey = "get_small" | "put_small" | "get_small_memory";
/** One 4 KiB load: which system, which figure of its results, which server and script. */
interface SmallRun { res: SystemResult; key: SmallKey; name: string; url: string; script: string }

/** Runs each load ROUNDS times, the systems taking turns; keeps the median round (by req/s) of each. */
async function measureRounds(runs: SmallRun[]) {
  const got = new Map<SmallRun, WrkResult[]>();
  await interleaved(runs, ROUNDS, (run, round) => step(run.res, run.key, async () => {
    if (round === 0) flushDisk();
    const r = await wrkStep(run.name, run.url, run.script, round === 0);
    got.set(run, [...(got.get(run) ?? []), r]);
  }));
  for (const run of runs) {
    const rounds = got.get(run) ?? [];
    if (rounds.length !== ROUNDS) continue; // a failed round is in res.errors
    run.res[run.key] = [...rounds].sort((a, b) => a.rps - b.rps)[Math.floor(ROUNDS / 2)];
    run.res[`${run.key}_rounds_rps`] = rounds.map((r) => r.rps);
  }
}

async function measureSmall(live: Live[], o: { wrk?: string; dir: string; memory?: Live }) {
  for (const { res, server } of live) {
    await step(res, "preload", async () => {
      flushDisk();
      await preload(server.url, { count: FILES, body: Buffer.alloc(SMALL, 7), concurrency: CONNECTIONS, pathOf: smallPath });
      await streamGet(server.url + smallPath(FILES - 1), SMALL);
    });
  }
  if (!o.wrk) {
    for (const { res } of live) res.errors.get_small = res.errors.put_small = "wrk is not installed";
    return;
  }
  const getLua = wrkScript(o.dir, "get_4k", { prefix: "/files/bench/small/", files: FILES });
  const putLua = wrkScript(o.dir, "put_4k", { prefix: "/files/bench/put/", files: FILES, putBytes: SMALL });
  const gets: SmallRun[] = live.map(({ res, server }) => ({ res, key: "get_small", name: res.name, url: server.url, script: getLua }));
  // The Node ref again, answering from memory: serves the files the ref preloaded (same folder).
  if (o.memory) gets.push({ res: o.memory.res, key: "get_small_memory", name: "node_ref_memory", url: o.memory.server.url, script: getLua });
  await measureRounds(gets);
  await measureRounds(live.map(({ res, server }) => ({ res, key: "put_small", name: res.name, url: server.url, script: putLua })));
}

async function measureRss(res: SystemResult, server: ServerProc) {
  await step(res, "peak_rss", async () => {
    const pid = server.pid;
    const before = procStatusKiB(pid, "VmHWM");
    if (before !== undefined) res.peak_rss_since_start_mib = before / 1024;
    const reset = resetPeakRss(pid);
    res.rss_before_mib = (procStatusKiB(pid, "VmRSS") ?? NaN) / 1024;
    let sampled = procStatusKiB(pid, "VmRSS") ?? 0;
    const timer = setInterval(() => { sampled = Math.max(sampled, procStatusKiB(pid, "VmRSS") ?? 0); }, 50);
    try {
      flushDisk();
      await streamPut(`${server.url}/files/bench/rss.bin`, RSS_SIZE);
    } finally {
      clearInterval(timer);
    }
    const hwm = procStatusKiB(pid, "VmHWM");
    if (hwm === undefined) throw new Error(`Cannot read /proc/${pid}/status`);
    res.peak_rss_mib = (reset ? Math.max(hwm, sampled) : sampled) / 1024;
    res.peak_rss_how = reset ? "VmHWM, reset just before the upload" : "max VmRSS sampled every 50 ms (VmHWM reset refused)";
    log(`${res.name}: peak RSS in ${RSS_LABEL} PUT: ${res.peak_rss_mib.toFixed(0)} MiB (RSS before: ${res.rss_before_mib.toFixed(0)} MiB)`);
  });
}

/** Starts a system; a startup failure marks it failed (and it is left out). */
async function launch(res: SystemResult, start: () => Promise<ServerProc>, rssAtStart = true): Promise<Live | undefined> {
  if (res.status === "skipped") {
    log(`${res.name}: skipped: ${res.reason}`);
    return undefined;
  }
  try {
    const server = await start();
    log(`${res.name}: listening on ${server.url} (pid ${server.pid})`);
    if (rssAtStart) {
      await new Promise((r) => setTimeout(r, 500));
      const rss = procStatusKiB(server.pid, "VmRSS");
      if (rss !== undefined) res.rss_start_mib = rss / 1024;
    }
    return { res, server };
  } catch (err) {
    res.status = "failed";
    res.reason = (err as Error).message;
    log(`${res.name}: failed: ${res.reason}`);
    return undefined;
  }
}

let loadAtStart = 0;

async function main() {
  const wrk = findWrk();
  const nginxBin = findNginx();
  // The node runs as `npm start` runs it: the esbuild bundle of nodes/main.ts
  // (`npm run bench` builds it first), plain node, no tsx loader.
  const nuvemMain = join(REPO, "dist", "nuvem-node.cjs");
  const sys: Systems = {
    nuvem: blank("nuvem", !ONLY.has("nuvem") ? "not selected (BENCH_ONLY)"
      : existsSync(nuvemMain) ? undefined : "dist/nuvem-node.cjs is missing: run `npm run build`"),
    ref: blank("node_ref", ONLY.has("ref") ? undefined : "not selected (BENCH_ONLY)"),
    nginx: blank("nginx", !ONLY.has("nginx") ? "not selected (BENCH_ONLY)"
      : nginxBin ? undefined : "nginx is not installed (apt-get install -y nginx)"),
  };
  if (!wrk) log("wrk is not installed (apt-get install -y wrk): 4 KiB rows will be n/a");
  const tmp = mkdtempSync(join(tmpdir(), "nuvem-bench-"));
  const onSignal = () => { killAllChildren(); rmSync(tmp, { recursive: true, force: true }); process.exit(130); };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  loadAtStart = loadavg()[0];
  if (loadAtStart > 0.5) log(`warning: load average is ${loadAtStart.toFixed(2)} before starting; figures will be noisy`);
  log(`${QUICK ? "quick" : "full"} run: ${BIG_LABEL} transfers x${RUNS}, wrk ${WRK_SECONDS} s, temp ${tmp}`);
  // The disk itself, before any server has left its big files to write back
  // or to discard (deleting them afterwards slowed the disk for a minute).
  const floor = wrk && ONLY.has("nuvem") && ONLY.has("ref") ? await measureFloor(tmpdir(), { rounds: ROUNDS, seconds: WRK_SECONDS }) : undefined;
  const started: Live[] = [];
  try {
    const dir = (name: string) => { const d = join(tmp, name); mkdirSync(d, { recursive: true }); return d; };
    // All systems run at once (each idle while another is measured) and take turns.
    const nuvem = await launch(sys.nuvem, async () => {
      // A port chosen here (not 0) so /health can tell readiness even if the
      // "listening" line is filtered out by --log-level warn.
      const port = await freePort();
      return startServer("nuvem", [
        ...NODE_FLAGS, nuvemMain, "--port", String(port), "--data", dir("nuvem"), "--no-watch", "--log-level", "warn",
        "--broker", "mqtt://127.0.0.1:1", // nothing listens there: never join a broker someone else runs on 1883
      ], { cwd: REPO, timeoutMs: 60_000, healthUrl: `http://127.0.0.1:${port}`, env: NODE_ENV });
    });
    const refArgs = (...extra: string[]) => ["--import", "tsx", join(REPO, "bench", "reference_server.ts"), "--port", "0", "--dir", dir("ref"), ...extra];
    const ref = await launch(sys.ref, () => startServer("node_ref", refArgs(), { cwd: REPO, timeoutMs: 30_000 }));
    const memory = wrk && ref
      ? await launch(blank("node_ref_memory"), () => startServer("node_ref_memory", refArgs("--memory"), { cwd: REPO }), false)
      : undefined;
    // nginx's master PID is not the process doing the work: no RSS figures.
    const nginx = await launch(sys.nginx, () => startNginx({ bin: nginxBin!, prefix: dir("nginx_conf"), data: dir("nginx") }), false);
    const live = [nuvem, ref, nginx].filter((l): l is Live => l !== undefined);
    started.push(...live, ...(memory ? [memory] : []));
    await measureBig(live);
    await measureSmall(live, { wrk, dir: tmp, memory: memory && { res: sys.ref, server: memory.server } });
    for (const l of [nuvem, ref]) if (l) await measureRss(l.res, l.server);
  } finally {
    for (const l of started) await l.server.stop().catch(() => {});
    killAllChildren();
    rmSync(tmp, { recursive: true, force: true });
  }
  report(sys, { wrk, nginx: nginxBin ? nginxVersion(nginxBin) : undefined }, floor);
}

function report(sys: Systems, tools: { wrk?: string; nginx?: string }, floor?: FloorResult) {
  const notes = [
    `Ratios are Nuvem ÷ reference; for latency and RSS lower is better. MB = 10^6 bytes.`,
    `${BIG_LABEL} transfers: one stream from this process after an untimed 64 MiB PUT+GET, median of ${RUNS} runs, \`sync\` before each; GETs come from the page cache.`,
    `4 KiB: wrk -t1 -c${CONNECTIONS} -d${WRK_SECONDS}s, ${ROUNDS} rounds per system (a 1 s warm-up before the first), the systems taking turns; the median round is shown. PUTs cycle over ${FILES} paths, GETs over ${FILES} preloaded files.`,
    `nginx does NOT fsync uploads (Nuvem and the Node ref fsync before answering) and serves GETs with sendfile.`,
    `"ref from RAM": the Node ref answering 4 KiB GETs from a Map of Buffers, an upper bound for small reads.`,
    `1-min load average: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end (2 cores; other work on the machine skews figures).`,
    `Peak RSS: ${sys.nuvem.peak_rss_how ?? "VmHWM of the server process"}; nginx not measured (several processes). The Node ref runs as \`node --import tsx\` (~45 MiB more RSS than plain node); Nuvem runs from its bundle under plain node.`,
  ];
  const out: string[] = [`Nuvem single-node benchmark${QUICK ? " (BENCH_QUICK: reduced sizes)" : ""}`, "", table(sys, BIG_LABEL, RSS_LABEL), ""];
  for (const s of [sys.nuvem, sys.ref, sys.nginx]) {
    if (s.status !== "ok") out.push(`${s.name}: n/a, ${s.status}: ${s.reason}`);
    for (const [k, v] of Object.entries(s.errors)) out.push(`${s.name}: ${k}: n/a: ${v}`);
  }
  if (floor) {
    const share = (rps: number | undefined, of: number) => (rps === undefined ? "n/a" : `${((100 * rps) / of).toFixed(0)}%`);
    out.push(...floorLines(floor));
    out.push(`  4 KiB PUT as a share of its chain: Nuvem ${share(sys.nuvem.put_small?.rps, floor.protocol)} of the protocol's, Node ref ${share(sys.ref.put_small?.rps, floor.ref)} of the ref chain's`, "");
  }
  out.push(...notes.map((n) => `note: ${n}`), "", "Targets (Nuvem):");
  const ts = targets(sys, BIG_LABEL);
  out.push(targetLines(ts));
  console.log(out.join("\n"));
  const json = {
    bench: "single_node",
    date: new Date().toISOString(),
    quick: QUICK,
    sizes: { big_bytes: BIG, rss_bytes: RSS_SIZE, small_bytes: SMALL, small_files: FILES, connections: CONNECTIONS, wrk_seconds: WRK_SECONDS, runs: RUNS },
    env: { node: process.version, cpus: cpus().length, kernel: release(), wrk: tools.wrk ?? null, nginx: tools.nginx ?? null },
    systems: sys,
    ratios: ratios(sys, BIG_LABEL, RSS_LABEL),
    targets: ts,
    disk_floor: floor ?? null,
    notes,
  };
  log(`results written to ${writeResult("single_node.json", JSON.stringify(json, null, 2) + "\n")}`);
}

process.on("exit", killAllChildren);
main().catch((err) => {
  console.error(`bench: ${(err as Error).stack ?? err}`);
  killAllChildren();
  process.exitCode = 1;
});
