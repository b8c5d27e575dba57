/**
 * Child server processes for the benchmarks: spawn, wait for the
 * `"msg":"listening"` JSON line, read memory figures, stop by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { get, type ClientRequest } from "node:http";
import { createInterface } from "node:readline";

export interface ServerProc {
  name: string;
  pid: number;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

/** Kills every child still running (sync, for `exit` handlers). */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }
  live.clear();
}

/** Remembers a child so `killAllChildren` can end it on a crash. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/** Sends SIGTERM to `child` by PID, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid!, "SIGKILL");
    } catch { /* already gone */ }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts `node <args>` (so the PID is the server's own, not a wrapper's) and
 * resolves once it prints a JSON line with `"msg":"listening"` and a `url`.
 * With `healthUrl`, a 200 from `GET healthUrl/health` also counts as ready
 * (for a server that filters its "listening" line out by log level).
 * Other stdout lines and all of stderr are forwarded to our stderr.
 */
export function startServer(
  name: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; healthUrl?: string; env?: Record<string, string> } = {},
): Promise<ServerProc> {
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  child.stderr!.on("data", (d: Buffer) => process.stderr.write(prefixLines(name, d.toString())));
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void stopChild(child, 1000).finally(() => reject(err));
    };
    const timer = setTimeout(
      () => fail(new Error(`${name} did not print a "listening" line within ${opts.timeoutMs ?? 30000} ms`)),
      opts.timeoutMs ?? 30000,
    );
    child.once("error", (err) => fail(new Error(`Cannot start ${name}: ${err.message}`)));
    child.once("exit", (code, signal) => fail(new Error(`${name} exited early (code ${code}, signal ${signal})`)));
    const ready = (url: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ name, pid: child.pid!, url, child, stop: () => stopChild(child) });
    };
    lines.on("line", (line) => {
      const url = done ? undefined : listeningUrl(line);
      if (url) ready(url);
      else process.stderr.write(prefixLines(name, line + "\n"));
    });
    if (opts.healthUrl) void pollHealth(opts.healthUrl, () => done).then((ok) => ok && ready(opts.healthUrl!));
  });
}

/** Polls `GET url/health` until it answers 200 (true) or `stop()` says so (false). */
async function pollHealth(url: string, stop: () => boolean): Promise<boolean> {
  while (!stop()) {
    const ok = await new Promise<boolean>((resolve) => {
      get(`${url}/health`, { agent: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).on("error", () => resolve(false)).on("timeout", function (this: ClientRequest) { this.destroy(); });
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function listeningUrl(line: string): string | undefined {
  if (!line.includes('"msg":"listening"')) return undefined;
  try {
    const url = JSON.parse(line).url;
    return typeof url === "string" ? url.replace(/\/$/, "") : undefined;
  } catch {
    return undefined;
  }
}

function prefixLines(name: string, text: string): string {
  return text.replace(/^(?=.)/gm, `[${name}] `);
}

/** Reads a `/proc/<pid>/status` field in KiB (e.g. `VmRSS`, `VmHWM`). */
export function procStatusKiB(pid: number, field: string): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the peak-RSS counter (VmHWM) of `pid`; false if the kernel refused. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}
