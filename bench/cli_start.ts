/**
 * How fast `nuvem` starts: wall time of `node bin/nuvem.js --help` (the
 * built CLI, dist/nuvem.cjs) and of a usage error, side by side with an
 * empty `node -e 0` (the floor any Node command pays) and with the CLI run
 * through tsx as it was before the build (`node --import tsx client/cli.ts`).
 * The commands take turns, ROUNDS times; medians and minimums are reported
 * (the minimum is the least disturbed by other load on the machine).
 *
 * Run: `npm run bench:cli` (builds first). Target: `nuvem --help` under 150 ms.
 * Results: table on stdout, JSON in bench/results/cli_start.json.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./measure.ts";
import { writeResult } from "./results_dir.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const TARGET_MS = 150;

const COMMANDS: { name: string; args: string[] }[] = [
  { name: "node -e 0 (reference)", args: ["-e", "0"] },
  { name: "nuvem --help", args: ["bin/nuvem.js", "--help"] },
  { name: "nuvem ls --bad (usage error)", args: ["bin/nuvem.js", "ls", "--bad"] },
  { name: "tsx client/cli.ts --help (before)", args: ["--import", "tsx", "client/cli.ts", "--help"] },
];

function timeOnce(args: string[]): number {
  const start = performance.now();
  const run = spawnSync(process.execPath, args, { cwd: REPO, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const ms = performance.now() - start;
  if (run.error) throw run.error;
  if (run.stderr.includes("running the TypeScript through tsx")) throw new Error(`bin/nuvem.js did not use the build: ${run.stderr.trim()}`);
  return ms;
}

if (!existsSync(join(REPO, "dist", "nuvem.cjs"))) throw new Error("no dist/nuvem.cjs: run `npm run build` (npm run bench:cli does)");
const times = new Map(COMMANDS.map((c) => [c.name, [] as number[]]));
for (const c of COMMANDS) timeOnce(c.args); // warm the page cache
for (let round = 0; round < ROUNDS; round++) {
  for (const c of COMMANDS) times.get(c.name)!.push(timeOnce(c.args));
}

const ref = median(times.get(COMMANDS[0].name)!);
const rows = COMMANDS.map((c) => {
  const xs = times.get(c.name)!;
  return { name: c.name, median_ms: Math.round(median(xs)), min_ms: Math.round(Math.min(...xs)), x_node: median(xs) / ref };
});
const width = Math.max(...rows.map((r) => r.name.length));
const lines = [
  `nuvem start-up, ${ROUNDS} rounds, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  `${"command".padEnd(width)}  median    min   × node -e 0`,
  ...rows.map((r) => `${r.name.padEnd(width)}  ${`${r.median_ms} ms`.padStart(6)} ${`${r.min_ms} ms`.padStart(6)}   ${r.x_node.toFixed(2)}×`),
];
const help = rows[1];
lines.push(
  `target: nuvem --help under ${TARGET_MS} ms: ${help.median_ms} ms median (${help.median_ms < TARGET_MS ? "met" : "NOT met"}), ` +
    `${help.median_ms - rows[0].median_ms} ms over an empty node`,
);
console.log(lines.join("\n"));
writeResult("cli_start.json", JSON.stringify({ rounds: ROUNDS, loadavg: loadavg(), rows }, null, 2) + "\n");
