/**
 * `npm run bench:sync`: `nuvem sync` against its targets, next to Syncthing.
 *
 * - Propagation: a file written in sync folder A until the same bytes are in
 *   sync folder B (A and B: two `nuvem sync` processes bound to different
 *   nodes of a 3-node cluster, `--broker B --prefer node-K` each, so they
 *   follow the change notices as DESIGN.md section 6 says), p50/p99 for
 *   4 KiB and 100 MiB, and the median of each phase (settle, hash, upload
 *   and commit, notice, download, placing) from the clients' `-v` lines; the same with two Syncthing instances on loopback, with its
 *   default watcher delay and with `fsWatcherDelayS=1` (skipped, and said so,
 *   when `syncthing` is not installed).
 * - Initial sync of 10 000 files of 4 KiB: `nuvem sync` started on a folder
 *   holding them until the mirror on the other node holds all of them.
 * - Idle CPU over 20 s of a sync client following 10 000 files and of the
 *   node whose files folder holds (and watches) them (/proc/PID/stat).
 * - A sync client with 100 000 files (laid down in a lone node's files
 *   folder before it starts, and copied to the local folder; a first
 *   `--once` records the base, a second one, its feed position dropped,
 *   lists the folder again: the peak RSS of each): the unchanged-tree
 *   reconcile at start (to its `live` line), its peak and settled RSS
 *   (VmHWM, VmRSS), idle CPU.
 *
 * The clients run the CLI compiled by esbuild (dist/bench-sync-cli.mjs, from
 * client/cli.ts), the nodes dist/nuvem-node.cjs, as `npm start` does.
 * `BENCH_QUICK=1` shrinks every run; `BENCH_FILES=N` sets the big folder's
 * size; `BENCH_SYNCTHING=0` leaves Syncthing out. Table on stdout, JSON in
 * bench/results/sync.json.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import Database from "libsql";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { LogBook, sleep, startBroker, startNode, waitClusterFormed, type NodeProc } from "./cluster_procs.ts";
import { median, processCpuMs } from "./measure.ts";
import { freePort } from "./nginx.ts";
import { writeResult } from "./results_dir.ts";
import { killAllChildren, procStatusKiB, stopChild, track } from "./server_proc.ts";
import { startSyncthingPair, syncthingVersion } from "./sync_syncthing.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const REPO = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(REPO, "dist", "bench-sync-cli.mjs");
const MiB = 1 << 20;
const SMALL_RUNS = QUICK ? 5 : 15;
const BIG_RUNS = QUICK ? 2 : 4;
const INITIAL_FILES = QUICK ? 1000 : 10_000;
const BIG_FOLDER = Number(process.env.BENCH_FILES ?? (QUICK ? 10_000 : 100_000));
const IDLE_S = QUICK ? 5 : 20;
/** `BENCH_STEPS=propagation` (or `initial`, `big`, comma-separated) runs only those steps; Syncthing runs with propagation. */
const STEPS = new Set((process.env.BENCH_STEPS ?? "propagation,initial,big").split(","));

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)];

// --- processes

interface SyncProc { child: ChildProcess; pid: number; lines: string[]; live: Promise<number>; stop(): Promise<void> }

/**
 * `nuvem sync DIR --remote R` as its own process, bound to one node: `--broker B --prefer ID` (change notices
 * from the broker, the node's id preferred) or, without `broker`, `--nodes URL`. `verbose`: `-v`, its debug
 * lines with timings. `live` resolves (ms since spawn) at its "live" line.
 */
function startSync(dir: string, o: { node: string; remote: string; book: LogBook; name: string; broker?: string; id?: string; verbose?: boolean }): SyncProc {
  const started = performance.now();
  const bind = o.broker ? ["--broker", o.broker, "--prefer", o.id ?? o.node] : ["--nodes", o.node];
  const args = [...(process.env.BENCH_SYNC_FLAGS?.split(" ").filter(Boolean) ?? []), CLI, "sync", dir, "--remote", o.remote, ...bind, ...(o.verbose ? ["-v"] : [])];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const lines: string[] = [];
  const live = new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${o.name} exited (code ${code}): ${lines.slice(-5).join(" | ")}`)));
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        lines.push(line);
        if (line.includes('"msg":"live"')) resolve(performance.now() - started);
        if (/"level":"(warn|error)"/.test(line) || (!line.startsWith("{") && !line.startsWith("nuvem: "))) o.book.add(o.name, line);
      });
    }
  });
  live.catch(() => {});
  return { child, pid: child.pid!, lines, live, stop: () => stopChild(child) };
}

/** Wall-clock time (ms) when the last `propagate` finished writing its file. */
let writtenAt = 0;

/** Writes `bytes` at `name` in `from`; resolves to the ms until `to` holds the same bytes under that name. */
async function propagate(from: string, to: string, name: string, bytes: Uint8Array, timeoutMs = 60_000): Promise<number> {
  const want = sha(bytes);
  await writeFile(join(from, name), bytes);
  const t0 = performance.now();
  writtenAt = Date.now();
  const target = join(to, name);
  for (;;) {
    const size = statSync(target, { throwIfNoEntry: false })?.size;
    if (size === bytes.length) {
      const seen = performance.now();
      if (sha(readFileSync(target)) === want) return seen - t0;
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${name} did not reach ${to} within ${timeoutMs} ms`);
    await sleep(size === undefined ? 5 : 20);
  }
}

interface Latency { p50: number; p99: number; samples: number[]; phases?: Record<string, number> }

/**
 * Where one propagation's time went, from the two clients' `-v` lines about `name` (ms, wall clock, from the
 * end of the write): A settled, hashed and started the upload; the origin committed (B's notice); B started
 * the download, had it written (verified, fsynced) and placed it; the bench saw it.
 */
function phasesOf(a: string[], b: string[], name: string, t0: number, seenMs: number): Record<string, number> | undefined {
  const at = (lines: string[], msg: string) => {
    for (const line of lines) {
      if (!line.includes(`"msg":"${msg}"`) || !line.includes(name)) continue;
      try {
        const j = JSON.parse(line);
        if (j.msg === msg && (j.path === name || String(j.path).endsWith(`/${name}`))) return Date.parse(j.time) - t0;
      } catch { /* not JSON */ }
    }
    return NaN;
  };
  const marks = [
    ["settled", at(a, "Local changes settled")], ["upload started", at(a, "Uploading")], ["notice at B", at(b, "Change notice")],
    ["download started", at(b, "Downloading")], ["download written", at(b, "Download written")], ["placed", at(b, "change")], ["seen", seenMs],
  ] as const;
  if (marks.some(([, ms]) => Number.isNaN(ms))) return undefined;
  const out: Record<string, number> = {};
  let last = 0;
  for (const [label, ms] of marks) {
    out[label] = ms - last;
    last = ms;
  }
  return out;
}
interface Pair { small: Latency; big: Latency }
interface Results {
  machine: { cpus: number; loadavg: number[] };
  quick: boolean;
  nuvem?: Pair;
  initial?: { files: number; ms: number; idleCpu: { client: number; node: number; seconds: number } };
  big?: {
    files: number; reconcileMs: number; peakRssMiB: number; rssMiB: number; idleCpu: number;
    once: { firstMs: number; firstPeakRssMiB: number; listingMs: number; listingPeakRssMiB: number };
  };
  syncthing?: { version: string; delay10?: Pair; delay1?: Pair };
  loadavgAfter?: number[];
}

async function latencies(from: string, to: string, label: string, size: number, runs: number, procs?: [SyncProc, SyncProc]): Promise<Latency> {
  const samples: number[] = [];
  const phases: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    const name = `${label}-${size}-${i}.bin`;
    const ms = await propagate(from, to, name, randomBytes(size));
    samples.push(ms);
    await sleep(300);
    const p = procs && phasesOf(procs[0].lines, procs[1].lines, name, writtenAt, ms);
    for (const [k, v] of Object.entries(p ?? {})) (phases[k] ??= []).push(v);
  }
  const medians = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(median(v))]));
  return { p50: median(samples), p99: p99(samples), samples: samples.map(Math.round), ...(procs ? { phases: medians } : {}) };
}

/** CPU share of one core used by `pid` over `seconds` of doing nothing. */
async function idleCpu(pid: number, seconds: number): Promise<number> {
  const before = processCpuMs(pid) ?? NaN;
  await sleep(seconds * 1000);
  return ((processCpuMs(pid) ?? NaN) - before) / (seconds * 1000);
}

function makeTree(dir: string, count: number, size: number): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (let i = 0; i < count; i++) {
    const rel = `d${String(Math.floor(i / 1000)).padStart(3, "0")}/f${String(i % 1000).padStart(4, "0")}.bin`;
    if (i % 1000 === 0) mkdirSync(join(dir, rel, ".."), { recursive: true });
    const body = randomBytes(size);
    writeFileSync(join(dir, rel), body);
    out.push([rel, body]);
  }
  return out;
}

/** Polls `check` every 250 ms (it may walk a big folder) until it holds. */
async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** `nuvem sync DIR --once` against one node; its peak RSS (VmHWM, read every 20 ms until it exits). */
async function onceWithPeak(dir: string, node: string): Promise<{ status: number | null; ms: number; peakKiB: number; output: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, "sync", dir, "--remote", "big", "--nodes", node, "--once"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  let output = "";
  child.stdout!.on("data", (d) => (output = (output + d).slice(-10_000)));
  child.stderr!.on("data", (d) => (output = (output + d).slice(-10_000)));
  let peakKiB = 0;
  const timer = setInterval(() => (peakKiB = Math.max(peakKiB, procStatusKiB(child.pid!, "VmHWM") ?? 0)), 20);
  const status = await new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  clearInterval(timer);
  return { status, ms: performance.now() - started, peakKiB, output };
}

/**
 * Files under `dir`, `.nuvem-sync/` left out; in this process (readdir of each folder): the `find` process this
 * spawned four times a second took CPU from the measured processes on a CPU-bound step.
 */
function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += entry.name === ".nuvem-sync" ? 0 : countFiles(join(dir, entry.name));
    else if (entry.isFile()) n++;
  }
  return n;
}

// --- the run

async function main(): Promise<void> {
  const esbuild = spawnSync(join(REPO, "node_modules", ".bin", "esbuild"), [
    "client/cli.ts", "--bundle", "--platform=node", "--format=esm", "--packages=external", "--target=node20", "--log-level=warning", `--outfile=${CLI}`,
  ], { cwd: REPO, stdio: "inherit" });
  if (esbuild.status !== 0) throw new Error("Cannot build the CLI for the benchmark");
  if (!existsSync(join(REPO, "dist", "nuvem-node.cjs"))) throw new Error("Run `npm run build` first (dist/nuvem-node.cjs)");
  const root = mkdtempSync(join(tmpdir(), "nuvem-bench-sync-"));
  const book = new LogBook();
  const results: Results = { machine: { cpus: cpus().length, loadavg: loadavg() }, quick: QUICK };
  const stops: (() => Promise<void>)[] = [];
  try {
    // Cluster
    const broker = await startBroker("aedes", { port: await freePort(), repo: REPO, dir: root, book });
    stops.push(() => broker.stop());
    const nodes: NodeProc[] = [];
    for (let k = 1; k <= 3; k++) {
      const dataDir = join(root, `node-${k}`);
      mkdirSync(dataDir);
      const node = await startNode({ id: `node-${k}`, port: await freePort(), dataDir, brokerUrl: broker.url }, { bundle: join(REPO, "dist", "nuvem-node.cjs"), repo: REPO, book });
      nodes.push(node);
      stops.push(() => node.stop());
    }
    await waitClusterFormed(nodes, 30_000);

    // Propagation, Nuvem
    if (STEPS.has("propagation")) {
    book.phase = "propagation";
    const a = join(root, "sync-a");
    const b = join(root, "sync-b");
    mkdirSync(a);
    mkdirSync(b);
    const bound = { broker: broker.url, verbose: true, remote: "prop", book };
    const syncA = startSync(a, { ...bound, node: nodes[0].url, id: nodes[0].id, name: "sync-a" });
    const syncB = startSync(b, { ...bound, node: nodes[1].url, id: nodes[1].id, name: "sync-b" });
    stops.push(() => syncA.stop(), () => syncB.stop());
    await Promise.all([syncA.live, syncB.live]);
    await propagate(a, b, "warm-up.bin", randomBytes(4096));
    const nuvemSmall = await latencies(a, b, "nuvem", 4096, SMALL_RUNS, [syncA, syncB]);
    const nuvemBig = await latencies(a, b, "nuvem", 100 * MiB, BIG_RUNS, [syncA, syncB]);
    results.nuvem = { small: nuvemSmall, big: nuvemBig };
    console.error(`nuvem sync: 4 KiB p50 ${nuvemSmall.p50.toFixed(0)} ms, 100 MiB p50 ${nuvemBig.p50.toFixed(0)} ms`);
    console.error(`  4 KiB phases (median ms): ${JSON.stringify(nuvemSmall.phases)}`);
    console.error(`  100 MiB phases (median ms): ${JSON.stringify(nuvemBig.phases)}`);
    await syncA.stop();
    await syncB.stop();
    }

    // Initial sync of 10 000 small files, then idle CPU
    if (STEPS.has("initial")) {
    book.phase = "initial";
    const c = join(root, "sync-c");
    const d = join(root, "sync-d");
    mkdirSync(c);
    mkdirSync(d);
    makeTree(c, INITIAL_FILES, 4096);
    const syncD = startSync(d, { node: nodes[1].url, remote: "init", book, name: "sync-d" });
    stops.push(() => syncD.stop());
    await syncD.live;
    const initialStart = performance.now();
    const syncC = startSync(c, { node: nodes[0].url, remote: "init", book, name: "sync-c" });
    stops.push(() => syncC.stop());
    await until(`${INITIAL_FILES} files in D`, () => countFiles(d) >= INITIAL_FILES, 600_000);
    const initialMs = performance.now() - initialStart;
    await syncC.live;
    console.error(`initial sync of ${INITIAL_FILES} files: ${(initialMs / 1000).toFixed(1)} s`);
    await sleep(5000); // let the last passes, acks and heartbeats settle
    book.phase = "idle";
    const [clientCpu, nodeCpu] = await Promise.all([idleCpu(syncC.pid, IDLE_S), idleCpu(nodes[0].pid, IDLE_S)]);
    results.initial = { files: INITIAL_FILES, ms: Math.round(initialMs), idleCpu: { client: clientCpu, node: nodeCpu, seconds: IDLE_S } };
    await syncC.stop();
    await syncD.stop();

    await syncC.stop();
    await syncD.stop();
    }
    for (const node of nodes) await node.stop();
    await broker.stop();

    // 100 000 files: the unchanged-tree reconcile and the client's memory. The files are laid down in a node's
    // files folder before it starts (its start-up check indexes them) and copied into the local folder: no
    // 100 000 uploads. That node runs alone (no broker to reach), so nothing replicates meanwhile.
    if (STEPS.has("big")) {
    book.phase = "big-folder";
    const e = join(root, "sync-e");
    const bigData = join(root, "node-big");
    makeTree(join(bigData, "files", "big"), BIG_FOLDER, 100);
    spawnSync("cp", ["-a", join(bigData, "files", "big"), e]);
    const indexStart = performance.now();
    const bigNode = await startNode({ id: "node-big", port: await freePort(), dataDir: bigData, brokerUrl: `mqtt://127.0.0.1:${await freePort()}` }, {
      bundle: join(REPO, "dist", "nuvem-node.cjs"), repo: REPO, book, timeoutMs: 1_800_000,
    });
    stops.push(() => bigNode.stop());
    console.error(`${BIG_FOLDER} files indexed by a node in ${((performance.now() - indexStart) / 1000).toFixed(0)} s`);
    const nodeUrl = bigNode.url;
    const first = await onceWithPeak(e, nodeUrl);
    if (first.status !== 0) throw new Error(`the first reconcile of ${BIG_FOLDER} files failed: ${first.output.slice(-1000)}`);
    // Without its saved feed position, `--once` lists the whole remote folder again (as after a pruned log).
    const db = new Database(join(e, ".nuvem-sync", "state.db"));
    db.prepare("DELETE FROM meta WHERE key = 'feed'").run();
    db.close();
    const listing = await onceWithPeak(e, nodeUrl);
    if (listing.status !== 0) throw new Error(`the listing reconcile of ${BIG_FOLDER} files failed: ${listing.output.slice(-1000)}`);
    console.error(`--once over ${BIG_FOLDER} files: first (no base) ${(first.ms / 1000).toFixed(1)} s, peak ${(first.peakKiB / 1024).toFixed(0)} MiB; ` +
      `listing again ${(listing.ms / 1000).toFixed(1)} s, peak ${(listing.peakKiB / 1024).toFixed(0)} MiB`);
    const syncE = startSync(e, { node: nodeUrl, remote: "big", book, name: "sync-e" });
    stops.push(() => syncE.stop());
    const reconcileMs = await syncE.live;
    const peakKiB = procStatusKiB(syncE.pid, "VmHWM") ?? NaN;
    await sleep(5000);
    const bigIdle = await idleCpu(syncE.pid, IDLE_S);
    const rssKiB = procStatusKiB(syncE.pid, "VmRSS") ?? NaN;
    const peakAfterKiB = procStatusKiB(syncE.pid, "VmHWM") ?? NaN;
    results.big = {
      files: BIG_FOLDER, reconcileMs: Math.round(reconcileMs), peakRssMiB: Math.max(peakKiB, peakAfterKiB) / 1024, rssMiB: rssKiB / 1024, idleCpu: bigIdle,
      once: { firstMs: Math.round(first.ms), firstPeakRssMiB: first.peakKiB / 1024, listingMs: Math.round(listing.ms), listingPeakRssMiB: listing.peakKiB / 1024 },
    };
    await syncE.stop();
    await bigNode.stop();
    }

    // Syncthing
    if (STEPS.has("propagation") && process.env.BENCH_SYNCTHING !== "0") {
    book.phase = "syncthing";
    const version = syncthingVersion();
    const syncthing: NonNullable<Results["syncthing"]> = { version: version ?? "not installed" };
    results.syncthing = syncthing;
    if (!version) {
      console.error("syncthing is not installed (apt-get install -y syncthing): its half of the table is left out");
    } else {
      for (const delay of [10, 1]) {
        const pair = await startSyncthingPair(join(root, `syncthing-${delay}`), delay);
        try {
          await propagate(pair.a, pair.b, "warm-up.bin", randomBytes(4096), 120_000);
          const small = await latencies(pair.a, pair.b, "st", 4096, Math.min(SMALL_RUNS, delay > 1 ? 5 : SMALL_RUNS));
          const big = await latencies(pair.a, pair.b, "st", 100 * MiB, Math.min(BIG_RUNS, 2));
          syncthing[delay === 1 ? "delay1" : "delay10"] = { small, big };
          console.error(`syncthing (fsWatcherDelayS=${delay}): 4 KiB p50 ${small.p50.toFixed(0)} ms, 100 MiB p50 ${big.p50.toFixed(0)} ms`);
        } finally {
          await pair.stop();
        }
      }
    }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
  results.loadavgAfter = loadavg();
  console.log(report(results));
  writeResult("sync.json", JSON.stringify(results, null, 2));
}

function report(r: Results): string {
  const s = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? "—" : `${(ms / 1000).toFixed(2)} s`);
  const st = r.syncthing ?? { version: "not run" };
  const rows: [string, string, string, string, string, string][] = [
    ["measure", "nuvem sync", "syncthing (default 10 s)", "syncthing (delay 1 s)", "target", "met"],
  ];
  if (r.nuvem) rows.push(
    ["4 KiB propagation p50", s(r.nuvem.small.p50), s(st.delay10?.small.p50), s(st.delay1?.small.p50), "< 0.5 s", r.nuvem.small.p50 < 500 ? "yes" : "NO"],
    ["4 KiB propagation p99", s(r.nuvem.small.p99), s(st.delay10?.small.p99), s(st.delay1?.small.p99), "", ""],
    ["100 MiB propagation p50", s(r.nuvem.big.p50), s(st.delay10?.big.p50), s(st.delay1?.big.p50), "< 2 s", r.nuvem.big.p50 < 2000 ? "yes" : "NO"],
    ["100 MiB propagation p99", s(r.nuvem.big.p99), s(st.delay10?.big.p99), s(st.delay1?.big.p99), "", ""],
  );
  const i = r.initial;
  if (i) {
    rows.push(
      [`initial sync, ${i.files} × 4 KiB`, s(i.ms), "", "", "< 30 s", i.ms < 30_000 ? "yes" : "NO"],
      ["idle CPU, sync client (10 000 files)", `${(i.idleCpu.client * 100).toFixed(2)} %`, "", "", "< 1 %", i.idleCpu.client < 0.01 ? "yes" : "NO"],
      ["idle CPU, node watching them", `${(i.idleCpu.node * 100).toFixed(2)} %`, "", "", "< 1 %", i.idleCpu.node < 0.01 ? "yes" : "NO"],
    );
  }
  const b = r.big;
  if (b) {
    rows.push(
      [`unchanged reconcile, ${b.files} files`, s(b.reconcileMs), "", "", "< 10 s", b.reconcileMs < 10_000 ? "yes" : "NO"],
      [`sync client peak RSS, ${b.files} files`, `${b.peakRssMiB.toFixed(0)} MiB`, "", "", "< 200 MiB", b.peakRssMiB < 200 ? "yes" : "NO"],
      [`--once peak RSS, first (no base), ${b.files} files`, `${b.once.firstPeakRssMiB.toFixed(0)} MiB`, "", "", "< 200 MiB", b.once.firstPeakRssMiB < 200 ? "yes" : "NO"],
      [`--once peak RSS, listing, ${b.files} files`, `${b.once.listingPeakRssMiB.toFixed(0)} MiB`, "", "", "< 200 MiB", b.once.listingPeakRssMiB < 200 ? "yes" : "NO"],
      ["sync client RSS when live", `${b.rssMiB.toFixed(0)} MiB`, "", "", "< 200 MiB", b.rssMiB < 200 ? "yes" : "NO"],
      [`idle CPU, sync client (${b.files} files)`, `${(b.idleCpu * 100).toFixed(2)} %`, "", "", "< 1 %", b.idleCpu < 0.01 ? "yes" : "NO"],
    );
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  for (const [label, l] of r.nuvem ? [["4 KiB", r.nuvem.small], ["100 MiB", r.nuvem.big]] as const : []) {
    if (l.phases) lines.push(`${label} phases, median ms after the write: ${Object.entries(l.phases).map(([k, v]) => `${k} +${v}`).join(", ")}`);
  }
  const st4 = st.delay1?.small.p50;
  if (st4 && r.nuvem) lines.push("", `4 KiB: nuvem sync ${(st4 / r.nuvem.small.p50).toFixed(1)}× as fast as Syncthing at its quickest (fsWatcherDelayS=1).`);
  if (!st.delay1) lines.push("", `Syncthing: ${st.version}; its columns are empty.`);
  const load = (xs: number[] = []) => xs.map((x) => x.toFixed(1)).join(" ");
  lines.push(`Load average before ${load(r.machine.loadavg)}, after ${load(r.loadavgAfter)} (${r.machine.cpus} CPUs).`);
  return lines.join("\n");
}

process.on("SIGINT", () => {
  killAllChildren();
  process.exit(130);
});
main().catch((err) => {
  console.error(err);
  killAllChildren();
  process.exit(1);
});
