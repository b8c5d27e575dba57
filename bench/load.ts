/**
 * Load generators: one streamed PUT or GET of a large body from this process
 * (node:http, constant memory), a concurrent small-file preload, and `wrk`
 * runs for small-request rates and latency.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { Agent, request, type ClientRequest } from "node:http";
import { join } from "node:path";

const PATTERN = randomBytes(1 << 20);
const CHUNK = 256 * 1024;
const IDLE_MS = 60_000;

/** Fails a request whose socket sees no traffic for IDLE_MS, so a stuck server cannot hang the bench. */
function stall(req: ClientRequest): void {
  req.setTimeout(IDLE_MS, () => req.destroy(new Error(`no progress for ${IDLE_MS / 1000} s on ${req.method} ${req.path}`)));
}

export interface Transfer { bytes: number; seconds: number; mbps: number; status: number }

/** PUTs `size` bytes of a repeated random pattern to `url`, streamed. */
export async function streamPut(url: string, size: number, onTick?: () => void): Promise<Transfer> {
  const start = performance.now();
  const req = request(url, {
    method: "PUT",
    agent: false,
    headers: { "Content-Length": size, "Content-Type": "application/octet-stream" },
  });
  stall(req);
  const response = once(req, "response") as Promise<[import("node:http").IncomingMessage]>;
  response.catch(() => {}); // awaited below; avoid an unhandled rejection while writing
  let sent = 0;
  while (sent < size) {
    const off = sent % PATTERN.length;
    const n = Math.min(CHUNK, size - sent, PATTERN.length - off);
    if (!req.write(PATTERN.subarray(off, off + n))) await once(req, "drain");
    sent += n;
    onTick?.();
  }
  req.end();
  const [res] = await response;
  const body: Buffer[] = [];
  for await (const c of res) body.push(c as Buffer);
  const seconds = (performance.now() - start) / 1000;
  if (res.statusCode! >= 300) {
    throw new Error(`PUT ${url} answered ${res.statusCode}: ${Buffer.concat(body).toString().slice(0, 200)}`);
  }
  return { bytes: size, seconds, mbps: size / seconds / 1e6, status: res.statusCode! };
}

/** GETs `url`, draining and counting the body; fails unless it has `expect` bytes. */
export async function streamGet(url: string, expect: number): Promise<Transfer> {
  const start = performance.now();
  const req = request(url, { agent: false });
  stall(req);
  req.end();
  const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
  let bytes = 0;
  res.on("data", (c: Buffer) => { bytes += c.length; });
  await once(res, "end");
  const seconds = (performance.now() - start) / 1000;
  if (res.statusCode !== 200 || bytes !== expect) {
    throw new Error(`GET ${url} answered ${res.statusCode} with ${bytes} bytes, expected 200 with ${expect}`);
  }
  return { bytes, seconds, mbps: bytes / seconds / 1e6, status: res.statusCode };
}

/** Sends `count` PUTs of `body` to `base + pathOf(i)`, `concurrency` at a time. */
export async function preload(
  base: string,
  o: { count: number; body: Buffer; concurrency: number; pathOf: (i: number) => string },
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  let next = 0;
  const worker = async () => {
    while (next < o.count) {
      const i = next++;
      const req = request(base + o.pathOf(i), {
        method: "PUT",
        agent,
        headers: { "Content-Length": o.body.length, "Content-Type": "application/octet-stream" },
      });
      stall(req);
      req.end(o.body);
      const [res] = (await once(req, "response")) as [import("node:http").IncomingMessage];
      res.resume();
      await once(res, "end");
      if (res.statusCode! >= 300) throw new Error(`Preload PUT ${o.pathOf(i)} answered ${res.statusCode}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    agent.destroy();
  }
}

/** `wrk` version line, or undefined if wrk is not installed. */
export function findWrk(): string | undefined {
  try {
    const out = execFileSync("wrk", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return out.split("\n")[0].trim();
  } catch (err) {
    const e = err as { stdout?: string; code?: string };
    // wrk --version exits 1 after printing its banner
    if (e.code !== "ENOENT" && e.stdout?.startsWith("wrk")) return e.stdout.split("\n")[0].trim();
    return undefined;
  }
}

export interface WrkResult { rps: number; p50ms: number; p99ms: number; requests: number; errors: number; non2xx: number }

/** wrk's `done` hook printing one WRKJSON line that `runWrk` parses; shared by the cluster bench. */
export const WRK_DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;

/**
 * Writes the Lua script for `wrk`: each request goes to
 * `${prefix}fNNNN` for NNNN cycling through `files` paths; with `putBytes`
 * each is a PUT of that many bytes.
 */
export function wrkScript(dir: string, name: string, o: { prefix: string; files: number; putBytes?: number }): string {
  const method = o.putBytes ? "PUT" : "GET";
  const body = o.putBytes ? `string.rep("x", ${o.putBytes})` : "nil";
  const lua = `local counter = 0
local body = ${body}
wrk.method = "${method}"
wrk.headers["Content-Type"] = "application/octet-stream"
request = function()
  local path = string.format("${o.prefix}f%04d", counter % ${o.files})
  counter = counter + 1
  return wrk.format("${method}", path, nil, body)
end`;
  return saveWrkScript(dir, name, lua);
}

/** Writes a wrk Lua script (with WRK_DONE's summary hook appended) to `dir/name.lua`; returns its path. */
export function saveWrkScript(dir: string, name: string, lua: string): string {
  const file = join(dir, `${name}.lua`);
  writeFileSync(file, `${lua}\n${WRK_DONE}`);
  return file;
}

/** Runs `wrk -t1 -cN -dS --latency -s script url` and parses its summary. */
export function runWrk(url: string, o: { script: string; connections: number; seconds: number }): Promise<WrkResult> {
  const args = ["-t1", `-c${o.connections}`, `-d${o.seconds}s`, "--latency", "--timeout", "10s", "-s", o.script, url];
  return new Promise((resolve, reject) => {
    execFile("wrk", args, { encoding: "utf8", timeout: (o.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      const line = stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
      if (!line) {
        reject(new Error(`wrk gave no summary${err ? ` (${err.message.trim()})` : ""}: ${stderr.trim() || stdout.trim()}`));
        return;
      }
      const j = JSON.parse(line.slice("WRKJSON ".length));
      resolve({
        rps: j.requests / (j.duration_us / 1e6),
        p50ms: j.p50_us / 1000,
        p99ms: j.p99_us / 1000,
        requests: j.requests,
        errors: j.errors,
        non2xx: j.non2xx,
      });
    });
  });
}
