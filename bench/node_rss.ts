/**
 * Peak memory of `nuvem node` while a 1 GiB file streams in: VmHWM (peak
 * RSS, /proc/PID/status) of the process actually serving, after one streamed
 * PUT of BIG bytes, side by side with
 *   - a node started as `nuvem up` starts its nodes (node_child.ts
 *     `nodeEntry`: the bundle with the V8 flags and environment of
 *     node_flags.ts), the reference `nuvem node` must match, and
 *   - the node run in-process through tsx without those settings (how
 *     `nuvem node` ran before the compiled CLI).
 * Each gets a fresh data folder and runs alone; the three take turns ROUNDS
 * times and the median peak is reported.
 *
 * Run: `npm run bench:cli` (builds first). Target: `nuvem node` peak under 120 MiB.
 * Results: table on stdout, JSON in bench/results/node_rss.json.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../nodes/node_child.ts";
import { NODE_ENV } from "../nodes/node_flags.ts";
import { streamPut } from "./load.ts";
import { median } from "./measure.ts";
import { writeResult } from "./results_dir.ts";
import { killAllChildren, procStatusKiB, startServer, type ServerProc } from "./server_proc.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1 << 20;
const BIG = process.env.BENCH_QUICK === "1" ? 128 * MiB : 1024 * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET_MIB = 120;
const NODE_ARGS = ["--port", "0", "--broker", "mqtt://127.0.0.1:1", "--no-watch"];

interface Way {
  name: string;
  /** Arguments to `node`, then the data folder's flags. */
  args: string[];
  env?: Record<string, string>;
}

/** The pid serving HTTP: `nuvem node`'s child, or the process itself. */
function servingPid(server: ServerProc): number {
  const children = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return children.length ? Number(children[0]) : server.pid;
}

async function peakOnce(way: Way): Promise<{ peakMiB: number; launcherMiB?: number; mbps: number }> {
  const data = mkdtempSync(join(tmpdir(), "nuvem-rss-"));
  const server = await startServer(way.name, [...way.args, ...NODE_ARGS, "--data", data], {
    cwd: REPO,
    env: { ...way.env, NUVEM_TOKEN: "" },
  });
  try {
    const pid = servingPid(server);
    const put = await streamPut(`${server.url}/files/rss/big.bin`, BIG);
    const peak = procStatusKiB(pid, "VmHWM");
    if (peak === undefined) throw new Error(`cannot read VmHWM of pid ${pid}`);
    const launcher = pid === server.pid ? undefined : procStatusKiB(server.pid, "VmHWM");
    return { peakMiB: peak / 1024, launcherMiB: launcher === undefined ? undefined : launcher / 1024, mbps: put.mbps };
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

process.once("exit", killAllChildren);
const entry = await nodeEntry();
if (!entry.bundled) throw new Error("dist/nuvem-node.cjs is missing or older than the sources: run `npm run build` (npm run bench:cli does)");
const ways: Way[] = [
  { name: "nuvem node", args: ["bin/nuvem.js", "node"] },
  { name: "as nuvem up starts a node (reference)", args: entry.args, env: NODE_ENV },
  { name: "tsx nodes/main.ts, no flags (before)", args: ["--import", "tsx", "nodes/main.ts"] },
];
const got = new Map(ways.map((w) => [w.name, [] as { peakMiB: number; launcherMiB?: number; mbps: number }[]]));
for (let round = 0; round < ROUNDS; round++) {
  for (const way of ways) {
    const r = await peakOnce(way);
    got.get(way.name)!.push(r);
    process.stderr.write(`bench: ${way.name}: round ${round + 1}/${ROUNDS}: peak ${r.peakMiB.toFixed(1)} MiB, ${r.mbps.toFixed(0)} MB/s\n`);
  }
}

const rows = ways.map((w) => {
  const runs = got.get(w.name)!;
  const launcher = runs.map((r) => r.launcherMiB).filter((x): x is number => x !== undefined);
  return {
    name: w.name,
    peak_mib: median(runs.map((r) => r.peakMiB)),
    launcher_mib: launcher.length ? median(launcher) : undefined,
    mbps: median(runs.map((r) => r.mbps)),
  };
});
const ref = rows[1].peak_mib;
const width = Math.max(...rows.map((r) => r.name.length));
const size = BIG >= 1024 * MiB ? `${BIG / 1024 / MiB} GiB` : `${BIG / MiB} MiB`;
const lines = [
  `peak RSS of the serving process in a ${size} PUT, median of ${ROUNDS}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  `${"node started by".padEnd(width)}  peak MiB  × reference   PUT MB/s`,
  ...rows.map((r) => `${r.name.padEnd(width)}  ${r.peak_mib.toFixed(1).padStart(8)}  ${(r.peak_mib / ref).toFixed(2).padStart(10)}×  ${r.mbps.toFixed(0).padStart(8)}`),
];
const node = rows[0];
if (node.launcher_mib !== undefined) lines.push(`(nuvem node's launcher process, which only waits for the node: ${node.launcher_mib.toFixed(1)} MiB)`);
lines.push(`target: nuvem node peak under ${TARGET_MIB} MiB: ${node.peak_mib.toFixed(1)} MiB (${node.peak_mib < TARGET_MIB ? "met" : "NOT met"})`);
console.log(lines.join("\n"));
writeResult("node_rss.json", JSON.stringify({ bytes: BIG, rounds: ROUNDS, loadavg: loadavg(), rows }, null, 2) + "\n");
