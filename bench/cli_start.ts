/**
 * How fast `nuvem` starts: wall time of `node bin/nuvem.js --help` (the
 * built CLI, dist/nuvem.cjs) and of a usage error, side by side with an
 * empty `node -e 0` (the floor any Node command pays) and with the CLI run
 * through tsx as it was before the build (`node --import tsx client/cli.ts`).
 * The commands take turns, ROUNDS times; medians and minimums are reported
 * (the minimum is the least disturbed by other load on the machine), and,
 * where /usr/bin/time exists, the median CPU time (user + system), which
 * other load on the machine disturbs much less than wall time.
 *
 * Run: `npm run bench:cli` (builds first). Target: `nuvem --help` under 150 ms.
 * Results: table on stdout, JSON in bench/results/cli_start.json.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
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

const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const scratch = mkdtempSync(join(tmpdir(), "nuvem-cli-start-"));
const cpuFile = join(scratch, "cpu");

/** Wall time in ms, and CPU time (user + system) in ms when /usr/bin/time can say. */
function timeOnce(args: string[]): { wall: number; cpu?: number } {
  const [command, ...rest] = TIME ? [TIME, "-f", "%U %S", "-o", cpuFile, process.execPath, ...args] : [process.execPath, ...args];
  const start = performance.now();
  const run = spawnSync(command, rest, { cwd: REPO, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const wall = performance.now() - start;
  if (run.error) throw run.error;
  if (run.stderr.includes("running the TypeScript through tsx")) throw new Error(`bin/nuvem.js did not use the build: ${run.stderr.trim()}`);
  if (!TIME) return { wall };
  const [user, sys] = readFileSync(cpuFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
  return { wall, cpu: (user + sys) * 1000 };
}

if (!existsSync(join(REPO, "dist", "nuvem.cjs"))) throw new Error("no dist/nuvem.cjs: run `npm run build` (npm run bench:cli does)");
const times = new Map(COMMANDS.map((c) => [c.name, [] as { wall: number; cpu?: number }[]]));
for (const c of COMMANDS) timeOnce(c.args); // warm the page cache
for (let round = 0; round < ROUNDS; round++) {
  for (const c of COMMANDS) times.get(c.name)!.push(timeOnce(c.args));
}
rmSync(scratch, { recursive: true, force: true });

const ref = median(times.get(COMMANDS[0].name)!.map((t) => t.wall));
const rows = COMMANDS.map((c) => {
  const walls = times.get(c.name)!.map((t) => t.wall);
  const cpu = TIME ? Math.round(median(times.get(c.name)!.map((t) => t.cpu!))) : undefined;
  return { name: c.name, median_ms: Math.round(median(walls)), min_ms: Math.round(Math.min(...walls)), x_node: median(walls) / ref, cpu_ms: cpu };
});
const width = Math.max(...rows.map((r) => r.name.length));
const ms = (n: number | undefined) => (n === undefined ? "-" : `${n} ms`).padStart(7);
const lines = [
  `nuvem start-up, ${ROUNDS} rounds, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  `${"command".padEnd(width)}   median     min  × node -e 0  CPU median`,
  ...rows.map((r) => `${r.name.padEnd(width)}  ${ms(r.median_ms)} ${ms(r.min_ms)}  ${`${r.x_node.toFixed(2)}×`.padStart(11)}  ${ms(r.cpu_ms)}`),
];
const help = rows[1];
lines.push(
  `target: nuvem --help under ${TARGET_MS} ms: ${help.median_ms} ms median (${help.median_ms < TARGET_MS ? "met" : "NOT met"}), ` +
    `${help.median_ms - rows[0].median_ms} ms over an empty node`,
);
console.log(lines.join("\n"));
writeResult("cli_start.json", JSON.stringify({ rounds: ROUNDS, loadavg: loadavg(), rows }, null, 2) + "\n");
