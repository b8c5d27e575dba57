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
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeResult } from "./results_dir.ts";
import { findWrk, preload, runWrk, streamGet, streamPut, wrkScript } from "./load.ts";
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
const WRK_SECONDS = QUICK ? 2 : 5;
const SMALL = 4096;
const FILES = 1000;
const CONNECTIONS = 16;
const size = (n: number) => (n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`);
const BIG_LABEL = size(BIG);
const RSS_LABEL = size(RSS_SIZE);
const REPO = fileURLToPath(new URL("..", import.meta.url));

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const smallPath = (i: number) => `/files/bench/small/f${String(i).padStart(4, "0")}`;
const flushDisk = () => { try { execFileSync("sync"); } catch { /* no sync(1): figures just get noisier */ } };

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

async function wrkStep(res: SystemResult, url: string, script: string) {
  await runWrk(url, { script, connections: CONNECTIONS, seconds: 1 }); // warm-up
  const r = await runWrk(url, { script, connections: CONNECTIONS, seconds: WRK_SECONDS });
  const bad = r.non2xx + r.errors;
  if (r.requests === 0) throw new Error("wrk completed no request");
  if (bad > r.requests * 0.01) throw new Error(`${bad} of ${r.requests} requests failed (non-2xx ${r.non2xx}, socket ${r.errors})`);
  log(`${res.name}: ${script.split("/").pop()} ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms`);
  return r;
}

async function measureBig(res: SystemResult, base: string) {
  const url = `${base}/files/bench/big.bin`;
  await step(res, "warm_up", async () => { // JIT of client and server; not timed
    await streamPut(`${base}/files/bench/warm.bin`, WARM);
    await streamGet(`${base}/files/bench/warm.bin`, WARM);
  });
  await step(res, "put_big", async () => {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      flushDisk();
      runs.push((await streamPut(url, BIG)).mbps);
      log(`${res.name}: ${BIG_LABEL} PUT run ${i + 1}/${RUNS}: ${runs[i].toFixed(0)} MB/s`);
    }
    res.put_big_runs_mbps = runs;
    res.put_big_mbps = median(runs);
  });
  await step(res, "get_big", async () => {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      flushDisk();
      runs.push((await streamGet(url, BIG)).mbps);
      log(`${res.name}: ${BIG_LABEL} GET run ${i + 1}/${RUNS}: ${runs[i].toFixed(0)} MB/s`);
    }
    res.get_big_runs_mbps = runs;
    res.get_big_mbps = median(runs);
  });
}

async function measureSmall(res: SystemResult, base: string, o: { wrk?: string; dir: string }) {
  await step(res, "preload", async () => {
    flushDisk();
    await preload(base, { count: FILES, body: Buffer.alloc(SMALL, 7), concurrency: CONNECTIONS, pathOf: smallPath });
    await streamGet(base + smallPath(FILES - 1), SMALL);
  });
  if (!o.wrk) {
    res.errors.get_small = res.errors.put_small = "wrk is not installed";
    return;
  }
  const getLua = wrkScript(o.dir, "get_4k", { prefix: "/files/bench/small/", files: FILES });
  const putLua = wrkScript(o.dir, "put_4k", { prefix: "/files/bench/put/", files: FILES, putBytes: SMALL });
  await step(res, "get_small", async () => { res.get_small = await wrkStep(res, base, getLua); });
  flushDisk();
  await step(res, "put_small", async () => { res.put_small = await wrkStep(res, base, putLua); });
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

/** Starts a system, measures it, always stops it; startup failure marks it failed. */
async function runSystem(res: SystemResult, start: () => Promise<ServerProc>, body: (s: ServerProc) => Promise<void>) {
  if (res.status === "skipped") {
    log(`${res.name}: skipped: ${res.reason}`);
    return;
  }
  let server: ServerProc | undefined;
  try {
    server = await start();
    log(`${res.name}: listening on ${server.url} (pid ${server.pid})`);
    if (res.name !== "nginx") { // nginx's master PID is not the process doing the work
      await new Promise((r) => setTimeout(r, 500));
      const rss = procStatusKiB(server.pid, "VmRSS");
      if (rss !== undefined) res.rss_start_mib = rss / 1024;
    }
    await body(server);
  } catch (err) {
    res.status = "failed";
    res.reason = (err as Error).message;
    log(`${res.name}: failed: ${res.reason}`);
  } finally {
    await server?.stop();
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
  try {
    const dir = (name: string) => { const d = join(tmp, name); mkdirSync(d, { recursive: true }); return d; };
    await runSystem(sys.nuvem, async () => {
      // A port chosen here (not 0) so /health can tell readiness even if the
      // "listening" line is filtered out by --log-level warn.
      const port = await freePort();
      return startServer("nuvem", [
        ...NODE_FLAGS, nuvemMain, "--port", String(port), "--data", dir("nuvem"), "--no-watch", "--log-level", "warn",
        "--broker", "mqtt://127.0.0.1:1", // nothing listens there: never join a broker someone else runs on 1883
      ], { cwd: REPO, timeoutMs: 60_000, healthUrl: `http://127.0.0.1:${port}`, env: NODE_ENV });
    }, async (s) => {
      await measureBig(sys.nuvem, s.url);
      await measureSmall(sys.nuvem, s.url, { wrk, dir: tmp });
      await measureRss(sys.nuvem, s);
    });
    rmSync(join(tmp, "nuvem"), { recursive: true, force: true });
    const refArgs = (...extra: string[]) => ["--import", "tsx", join(REPO, "bench", "reference_server.ts"), "--port", "0", "--dir", dir("ref"), ...extra];
    await runSystem(sys.ref, () => startServer("node_ref", refArgs(), { cwd: REPO, timeoutMs: 30_000 }), async (s) => {
      await measureBig(sys.ref, s.url);
      await measureSmall(sys.ref, s.url, { wrk, dir: tmp });
      await measureRss(sys.ref, s);
    });
    if (wrk && sys.ref.status === "ok") {
      await runSystem(blank("node_ref_memory"), () => startServer("node_ref_memory", refArgs("--memory"), { cwd: REPO }), async (s) => {
        const lua = wrkScript(tmp, "get_4k_memory", { prefix: "/files/bench/small/", files: FILES });
        await step(sys.ref, "get_small_memory", async () => { sys.ref.get_small_memory = await wrkStep(sys.ref, s.url, lua); });
      });
    }
    rmSync(join(tmp, "ref"), { recursive: true, force: true });
    await runSystem(sys.nginx, () => startNginx({ bin: nginxBin!, prefix: dir("nginx_conf"), data: dir("nginx") }), async (s) => {
      await measureBig(sys.nginx, s.url);
      await measureSmall(sys.nginx, s.url, { wrk, dir: tmp });
    });
  } finally {
    killAllChildren();
    rmSync(tmp, { recursive: true, force: true });
  }
  report(sys, { wrk, nginx: nginxBin ? nginxVersion(nginxBin) : undefined });
}

function report(sys: Systems, tools: { wrk?: string; nginx?: string }) {
  const notes = [
    `Ratios are Nuvem ÷ reference; for latency and RSS lower is better. MB = 10^6 bytes.`,
    `${BIG_LABEL} transfers: one stream from this process after an untimed 64 MiB PUT+GET, median of ${RUNS} runs, \`sync\` before each; GETs come from the page cache.`,
    `4 KiB: wrk -t1 -c${CONNECTIONS} -d${WRK_SECONDS}s after a 1 s warm-up; PUTs cycle over ${FILES} paths, GETs over ${FILES} preloaded files.`,
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
