/**
 * The "Node reference" for the benchmarks: the least a `node:http` file
 * server must do to be durable. `PUT /files/{path}` streams the body to a
 * temp file beside the target, fsyncs, renames over it; `GET /files/{path}`
 * pipes `fs.createReadStream` with `Content-Length`.
 *
 * `--memory`: GETs of files up to 64 KiB are answered from a Buffer kept in
 * a Map (filled on first read, dropped on PUT), the upper bound for small
 * reads.
 *
 * Usage: node --import tsx bench/reference_server.ts --port 0 --dir DIR [--memory]
 * Prints `{"msg":"listening","url":"http://127.0.0.1:PORT"}` on stdout.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { dirname, join, normalize } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    dir: { type: "string" },
    memory: { type: "boolean", default: false },
  },
});
if (!values.dir) throw new Error("Missing --dir: the folder to store files in");
const root = values.dir;
const memory = values.memory;
const MEMORY_MAX = 64 * 1024;
const cache = new Map<string, Buffer>();
let tmpCounter = 0;

function target(url: string): string | undefined {
  const path = decodeURIComponent(new URL(url, "http://x").pathname);
  if (!path.startsWith("/files/") || path.endsWith("/")) return undefined;
  const rel = normalize(path.slice("/files/".length));
  if (rel.startsWith("..")) return undefined;
  return join(root, rel);
}

async function put(file: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  cache.delete(file);
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.tmp-${process.pid}-${tmpCounter++}`);
  try {
    // flush: fsync before the stream closes, so pipeline resolves only once durable
    await pipeline(req, createWriteStream(tmp, { flush: true }));
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const existed = await stat(file).then(() => true, () => false);
  await rename(tmp, file);
  res.writeHead(existed ? 200 : 201, { "Content-Length": 0 }).end();
}

async function get(file: string, res: ServerResponse): Promise<void> {
  const hit = memory ? cache.get(file) : undefined;
  if (hit) {
    res.writeHead(200, { "Content-Length": hit.length, "Content-Type": "application/octet-stream" }).end(hit);
    return;
  }
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) {
    res.writeHead(404, { "Content-Length": 0 }).end();
    return;
  }
  if (memory && st.size <= MEMORY_MAX) {
    const buf = await readFile(file);
    cache.set(file, buf);
    res.writeHead(200, { "Content-Length": buf.length, "Content-Type": "application/octet-stream" }).end(buf);
    return;
  }
  res.writeHead(200, { "Content-Length": st.size, "Content-Type": "application/octet-stream" });
  await pipeline(createReadStream(file), res);
}

const server = createServer((req, res) => {
  const file = target(req.url ?? "/");
  if (!file) {
    res.writeHead(404, { "Content-Length": 0 }).end();
    return;
  }
  const work = req.method === "PUT" ? put(file, req, res)
    : req.method === "GET" ? get(file, res)
    : Promise.resolve(void res.writeHead(405, { Allow: "GET, PUT", "Content-Length": 0 }).end());
  work.catch((err: Error) => {
    if (!res.headersSent) res.writeHead(500, { "Content-Length": 0 }).end();
    else res.destroy(err);
  });
});

server.listen(Number(values.port), "127.0.0.1", () => {
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${port}`, memory }));
});
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
