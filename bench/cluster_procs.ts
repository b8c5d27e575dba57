/**
 * Processes for the cluster benchmark: an MQTT broker (the embedded Aedes
 * one, run standalone, or Debian's Mosquitto) and storage nodes started from
 * the esbuild bundle, each stopped by PID. Every line a process prints goes
 * into a `LogBook` (tagged with the benchmark phase) so the report can quote
 * warnings and errors; the first few of each kind are echoed to stderr.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { NODE_ENV, NODE_FLAGS } from "../nodes/node_flags.ts";
import { stopChild, track } from "./server_proc.ts";

export const MOSQUITTO = "/usr/sbin/mosquitto";

// --- logs

export interface LogLine { source: string; phase: string; at: string; level: string; msg: string; text: string }

/** Every line child processes print, with the phase it was printed in. */
export class LogBook {
  readonly lines: LogLine[] = [];
  phase = "start";
  readonly #echoed = new Map<string, number>();
  static readonly ECHO_PER_KIND = 5;
  static readonly KEEP = 20_000;

  add(source: string, text: string): void {
    if (!text.trim()) return;
    let level = "text";
    let msg = text.trim().slice(0, 120);
    try {
      const j = JSON.parse(text);
      if (j && typeof j === "object") {
        level = String(j.level ?? "text");
        msg = String(j.msg ?? msg);
      }
    } catch { /* not JSON: stack traces, mosquitto lines */ }
    if (this.lines.length < LogBook.KEEP) this.lines.push({ source, phase: this.phase, at: new Date().toISOString(), level, msg, text });
    const kind = `${source}|${level}|${msg}`;
    const n = (this.#echoed.get(kind) ?? 0) + 1;
    this.#echoed.set(kind, n);
    if (n <= LogBook.ECHO_PER_KIND) process.stderr.write(`[${source}] ${text}\n`);
    else if (n === LogBook.ECHO_PER_KIND + 1) process.stderr.write(`[${source}] (more "${msg}" lines not echoed; all in the log summary)\n`);
  }

  /** Lines grouped by source, level and message: count, phases, first and last example. */
  summary(): { source: string; level: string; msg: string; count: number; phases: string[]; first: string; last: string }[] {
    const groups = new Map<string, { source: string; level: string; msg: string; count: number; phases: Set<string>; first: string; last: string }>();
    for (const l of this.lines) {
      const key = `${l.source.replace(/#\d+$/, "")}|${l.level}|${l.msg}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { source: l.source.replace(/#\d+$/, ""), level: l.level, msg: l.msg, count: 0, phases: new Set(), first: l.text, last: l.text }));
      g.count++;
      g.phases.add(l.phase);
      g.last = l.text;
    }
    return [...groups.values()].map((g) => ({ ...g, phases: [...g.phases] })).sort((a, b) => b.count - a.count);
  }
}

function capture(child: ChildProcess, source: string, book: LogBook, onLine?: (line: string) => boolean): void {
  const feed = (stream: NodeJS.ReadableStream | null) => {
    if (!stream) return;
    createInterface({ input: stream }).on("line", (line) => {
      if (onLine?.(line)) return;
      book.add(source, line);
    });
  };
  feed(child.stdout);
  feed(child.stderr);
}

// --- brokers

export type BrokerKind = "aedes" | "mosquitto";

export interface BrokerProc {
  kind: BrokerKind;
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `mosquitto version 2.0.11`, or undefined if it is not installed. */
export function mosquittoVersion(): string | undefined {
  const r = spawnSync(MOSQUITTO, ["-h"], { encoding: "utf8" });
  if (r.error) return undefined;
  return (r.stdout + r.stderr).split("\n").find((l) => l.startsWith("mosquitto version"))?.trim() ?? "unknown";
}

export function aedesVersion(repo: string): string {
  try {
    return `aedes ${JSON.parse(readFileSync(join(repo, "node_modules", "aedes", "package.json"), "utf8")).version}`;
  } catch {
    return "aedes (version unknown)";
  }
}

/** Starts the broker on `port` (loopback) and resolves once it accepts TCP connections. */
export async function startBroker(kind: BrokerKind, o: { port: number; repo: string; dir: string; book: LogBook }): Promise<BrokerProc> {
  let child: ChildProcess;
  if (kind === "aedes") {
    // broker/main.ts flags: --port, --ws-port, --host, --token, --read-token, --log-level
    child = spawn(process.execPath, ["--import", "tsx", join(o.repo, "broker", "main.ts"), "--port", String(o.port), "--ws-port", "0", "--log-level", "warn"], {
      cwd: o.repo,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } else {
    const conf = join(o.dir, "mosquitto.conf");
    // Defaults otherwise (max_queued_messages 1000, max_inflight_messages 20): a stock Mosquitto.
    writeFileSync(conf, [
      `listener ${o.port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      // Mosquitto leaves Nagle on by default; BENCH_MOSQUITTO_NODELAY=1 turns it off (as Aedes does on its sockets).
      ...(process.env.BENCH_MOSQUITTO_NODELAY === "1" ? ["set_tcp_nodelay true"] : []),
      "",
    ].join("\n"));
    child = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  }
  track(child);
  capture(child, kind, o.book);
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) => reject(new Error(`${kind} exited early (code ${code}, signal ${signal})`)));
    child.once("error", (err) => reject(new Error(`Cannot start ${kind}: ${err.message}`)));
  });
  exited.catch(() => {});
  try {
    await Promise.race([waitForPort(o.port, 20_000), exited]);
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
  return { kind, url: `mqtt://127.0.0.1:${o.port}`, port: o.port, pid: child.pid!, child, stop: () => stopChild(child) };
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port }, () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

// --- nodes

export interface NodeSpec { id: string; port: number; dataDir: string; brokerUrl: string }

export interface NodeProc {
  spec: NodeSpec;
  id: string;
  url: string;
  pid: number;
  child: ChildProcess;
  /** performance.now() at spawn and at the "listening" line. */
  spawnedAt: number;
  listeningAt: number;
  /** SIGTERM, SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** SIGKILL now; resolves once the process is gone. */
  kill9(): Promise<void>;
}

let starts = 0;

/**
 * `node <NODE_FLAGS> dist/nuvem-node.cjs --id … --port … --data … --broker … --log-level warn`;
 * resolves at its `"msg":"listening"` line (printed whatever the log level).
 */
export function startNode(spec: NodeSpec, o: { bundle: string; repo: string; book: LogBook; timeoutMs?: number }): Promise<NodeProc> {
  const args = [...NODE_FLAGS, ...(process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? []), o.bundle, "--id", spec.id, "--port", String(spec.port), "--data", spec.dataDir, "--broker", spec.brokerUrl, "--log-level", "warn"];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, { cwd: o.repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...NODE_ENV } });
  track(child);
  const source = `${spec.id}#${++starts}`;
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => fail(new Error(`${spec.id} printed no "listening" line within ${o.timeoutMs ?? 30_000} ms`)), o.timeoutMs ?? 30_000);
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void stopChild(child, 1000).finally(() => reject(err));
    };
    child.once("error", (err) => fail(new Error(`Cannot start ${spec.id}: ${err.message}`)));
    child.once("exit", (code, signal) => fail(new Error(`${spec.id} exited early (code ${code}, signal ${signal})`)));
    capture(child, source, o.book, (line) => {
      if (done || !line.includes('"msg":"listening"')) return false;
      let url: string | undefined;
      try {
        url = JSON.parse(line).url;
      } catch { return false; }
      if (typeof url !== "string") return false;
      done = true;
      clearTimeout(timer);
      let stopping = false;
      const gone = new Promise<void>((r) => child.once("exit", (code, signal) => {
        if (!stopping) o.book.add(source, `exited unexpectedly (code ${code}, signal ${signal})`);
        r();
      }));
      resolve({
        spec,
        id: spec.id,
        url: url.replace(/\/$/, ""),
        pid: child.pid!,
        child,
        spawnedAt,
        listeningAt: performance.now(),
        stop: () => {
          stopping = true;
          return stopChild(child);
        },
        kill9: async () => {
          stopping = true;
          if (child.exitCode === null && child.signalCode === null) {
            try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ }
          }
          await gone;
        },
      });
      return true;
    });
  });
}

// --- node status

export interface NodeStatus {
  id: string;
  url: string;
  state: string;
  seq: number;
  applied: Record<string, number>;
  lag: number;
  files: number;
  bytes: number;
  cluster?: { id: string; url: string; state: string; heartbeatAgeMs: number | null }[];
}

export async function getStatus(url: string, timeoutMs = 2000): Promise<NodeStatus> {
  const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}/status answered ${res.status}`);
  return (await res.json()) as NodeStatus;
}

/** Is every change of every node applied by every other node (and no lag reported)? */
export function converged(statuses: NodeStatus[]): boolean {
  for (const s of statuses) {
    if (s.lag !== 0) return false;
    for (const o of statuses) if (o.id !== s.id && (s.applied[o.id] ?? 0) < o.seq) return false;
  }
  return true;
}

/** Polls every node's /status until `converged`; returns ms waited, throws with the last view on timeout. */
export async function waitConverged(nodes: NodeProc[], timeoutMs: number, everyMs = 100): Promise<number> {
  const start = performance.now();
  let last = "";
  while (performance.now() - start < timeoutMs) {
    try {
      const st = await Promise.all(nodes.map((n) => getStatus(n.url)));
      if (converged(st)) return performance.now() - start;
      last = st.map((s) => `${s.id}: seq ${s.seq} lag ${s.lag} applied ${JSON.stringify(s.applied)}`).join("; ");
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(everyMs);
  }
  throw new Error(`not converged after ${timeoutMs / 1000} s: ${last}`);
}

/** Waits until each node sees every other one online in its /status. */
export async function waitClusterFormed(nodes: NodeProc[], timeoutMs: number): Promise<number> {
  const start = performance.now();
  let last = "";
  while (performance.now() - start < timeoutMs) {
    try {
      const st = await Promise.all(nodes.map((n) => getStatus(n.url)));
      const ok = st.every((s) => nodes.every((n) => n.id === s.id || s.cluster?.some((m) => m.id === n.id && m.state === "online")));
      if (ok) return performance.now() - start;
      last = st.map((s) => `${s.id} sees ${JSON.stringify(s.cluster?.map((m) => `${m.id}:${m.state}`))}`).join("; ");
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`cluster not formed after ${timeoutMs / 1000} s: ${last}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
