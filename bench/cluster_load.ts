/**
 * Client side of the cluster benchmark: single PUTs that return their answer
 * and timings, a streamed large PUT with unique content, a wrk PUT script
 * over distinct paths with a query string, an MQTT watcher, and percentiles.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { Agent, request, type IncomingMessage } from "node:http";
import mqtt, { type MqttClient } from "mqtt";
import { saveWrkScript } from "./load.ts";

export interface PutAnswer {
  status: number;
  /** Parsed JSON answer (the record plus `replicas` on success). */
  json: Record<string, unknown> | undefined;
  text: string;
  /** performance.now() at request start, at the response headers, and at the end of the answer. */
  start: number;
  headersAt: number;
  end: number;
}

async function readAnswer(res: IncomingMessage): Promise<{ text: string; json: Record<string, unknown> | undefined }> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  let json: Record<string, unknown> | undefined;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { text, json };
}

/** One PUT of `body` to `url` (over `agent`, keep-alive); never throws on an HTTP status. */
export async function putBody(url: string, body: Buffer, agent: Agent): Promise<PutAnswer> {
  const start = performance.now();
  const req = request(url, { method: "PUT", agent, headers: { "Content-Length": body.length, "Content-Type": "application/octet-stream" } });
  req.setTimeout(60_000, () => req.destroy(new Error(`no answer in 60 s to PUT ${url}`)));
  req.end(body);
  const [res] = (await once(req, "response")) as [IncomingMessage];
  const headersAt = performance.now();
  const { text, json } = await readAnswer(res);
  return { status: res.statusCode!, json, text, start, headersAt, end: performance.now() };
}

/** `count` PUTs to `base + pathOf(i)` with body `bodyOf(i)`, `concurrency` at a time over keep-alive; throws on a non-2xx. */
export async function putMany(
  base: string,
  o: { count: number; concurrency: number; pathOf: (i: number) => string; bodyOf: (i: number) => Buffer },
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  let next = 0;
  const worker = async () => {
    while (next < o.count) {
      const i = next++;
      const r = await putBody(base + o.pathOf(i), o.bodyOf(i), agent);
      if (r.status >= 300) throw new Error(`PUT ${o.pathOf(i)} answered ${r.status}: ${r.text.slice(0, 300)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    agent.destroy();
  }
}

const PATTERN = randomBytes(1 << 20);
const CHUNK = 256 * 1024;

/**
 * PUTs `size` bytes streamed in 256 KiB chunks (a repeated random pattern,
 * made unique by a random first 32 bytes so no two uploads share a digest).
 */
export async function putStream(url: string, size: number): Promise<PutAnswer & { mbps: number }> {
  const start = performance.now();
  const req = request(url, { method: "PUT", agent: false, headers: { "Content-Length": size, "Content-Type": "application/octet-stream" } });
  req.setTimeout(120_000, () => req.destroy(new Error(`no progress for 120 s on PUT ${url}`)));
  const response = once(req, "response") as Promise<[IncomingMessage]>;
  response.catch(() => {});
  const head = randomBytes(32);
  let sent = 0;
  while (sent < size) {
    const off = sent % PATTERN.length;
    const n = Math.min(CHUNK, size - sent, PATTERN.length - off);
    let chunk = PATTERN.subarray(off, off + n);
    if (sent === 0) chunk = Buffer.concat([head.subarray(0, Math.min(32, n)), chunk.subarray(Math.min(32, n))]);
    if (!req.write(chunk)) await once(req, "drain");
    sent += n;
  }
  req.end();
  const [res] = await response;
  const headersAt = performance.now();
  const { text, json } = await readAnswer(res);
  const end = performance.now();
  return { status: res.statusCode!, json, text, start, headersAt, end, mbps: size / ((headersAt - start) / 1000) / 1e6 };
}

/**
 * A wrk script (for `runWrk` in load.ts; same summary line) PUTting `bytes`
 * to `${prefix}f0000000${query}`, `f0000001…`: every request a new path and
 * new content (a per-script random tag and the counter lead the body, so no
 * replica finds the content locally), wrk -t1 running one Lua state.
 */
export function wrkPutScript(dir: string, name: string, o: { prefix: string; query: string; bytes: number }): string {
  const tag = randomBytes(8).toString("hex");
  const lua = `local counter = 0
local rest = string.rep("x", ${o.bytes - 24})
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/octet-stream"
request = function()
  local path = string.format("${o.prefix}f%07d${o.query}", counter)
  local body = string.format("${tag}%08d", counter) .. rest
  counter = counter + 1
  return wrk.format("PUT", path, nil, body)
end`;
  return saveWrkScript(dir, name, lua);
}

// --- MQTT

export interface Watcher {
  client: MqttClient;
  /** Resolves with performance.now() when a message on a topic matching `test` satisfies `pred`, or undefined after `timeoutMs`. */
  waitFor(test: (topic: string, msg: any) => boolean, timeoutMs: number): Promise<number | undefined>;
  close(): Promise<void>;
}

/** An MQTT client subscribed to `topics` (QoS 1); `onMessage` sees every parsed message with its arrival time. */
export async function watch(url: string, topics: string[], onMessage?: (topic: string, msg: any, at: number) => void): Promise<Watcher> {
  const client = await mqtt.connectAsync(url, { clientId: `nuvem-bench-${process.pid}-${randomBytes(3).toString("hex")}`, reconnectPeriod: 500, connectTimeout: 5000 });
  const waiters = new Set<{ test: (t: string, m: any) => boolean; done: (at: number) => void }>();
  client.on("message", (topic, payload) => {
    const at = performance.now();
    let msg: any;
    try { msg = JSON.parse(payload.toString()); } catch { return; }
    onMessage?.(topic, msg, at);
    for (const w of [...waiters]) if (w.test(topic, msg)) w.done(at);
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return {
    client,
    waitFor(test, timeoutMs) {
      return new Promise((resolve) => {
        const w = {
          test,
          done: (at: number | undefined) => {
            clearTimeout(timer);
            waiters.delete(w);
            resolve(at);
          },
        };
        const timer = setTimeout(() => w.done(undefined), timeoutMs);
        waiters.add(w);
      });
    },
    async close() {
      await client.endAsync(true).catch(() => {});
    },
  };
}

// --- statistics

/** Nearest-rank percentile (p in 0..100) of `xs`. */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const median = (xs: number[]) => percentile(xs, 50);
