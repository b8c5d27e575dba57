/** Node.js runtime seam: node:http server, raw request target and body, disk usage. */
import { createServer } from 'node:http';
import { statfs } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Runtime } from './mod.ts';

type NodeEnv = { incoming?: IncomingMessage };

/** A request header by lower-case name, as one string. */
function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Limits against slow or hostile clients. Headers must arrive within 20 s
 * (slowloris); a connection with no bytes either way for 75 s is closed (more
 * than the longest long-poll, 60 s: an idle body cannot hold a socket
 * forever); at most 10,000 connections at once, long-polls included.
 * There is no limit on a whole request's time: a 10 GiB upload at 30 MB/s
 * takes minutes, and Node's default (300 s) would cut it off.
 */
export interface HttpLimits {
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
}

export const HTTP_LIMITS: HttpLimits = { headersTimeoutMs: 20_000, idleTimeoutMs: 75_000, maxConnections: 10_000 };

export function nodeRuntime(limits: Partial<HttpLimits> = {}): Runtime {
  const { headersTimeoutMs, idleTimeoutMs, maxConnections } = { ...HTTP_LIMITS, ...limits };
  return {
    name: `node ${process.version}`,
    stampsNodeHeader: true,
    async serve(app, { host, port, nodeId, fastRead, fastWrite }) {
      // A target the URL parser refuses (e.g. a raw backslash) never reaches
      // the app: answer it here, in the app's error format.
      const listener = getRequestListener(app.fetch, {
        errorHandler: () =>
          new Response(JSON.stringify({ error: 'invalid_path', message: 'Cannot parse the request target as a URL path' }), {
            status: 400,
            headers: { 'content-type': 'application/json' },
          }),
      });
      const server = createServer({
        keepAliveTimeout: 30_000,
        requestTimeout: 0,
        headersTimeout: headersTimeoutMs,
        connectionsCheckingInterval: Math.min(30_000, Math.max(100, headersTimeoutMs / 4)),
      }, (req, res) => {
        // A cached small file: answered here, without building Web Request and
        // Response objects. Its headers (X-Nuvem-Node included) go to writeHead
        // alone, which then skips setHeader's per-header checks and copies.
        const fast = fastRead?.(req.method ?? '', req.url ?? '', (name) => headerOf(req, name));
        if (fast) {
          res.writeHead(200, fast.headers);
          res.end(fast.body);
          return;
        }
        // A plain upload: the PUT handler's code on Node's own request and response.
        const write = fastWrite?.(req.method ?? '', req.url ?? '', (name) => headerOf(req, name), req);
        if (write) {
          void write.then((a) => {
            res.writeHead(a.status, a.headers);
            res.end(a.body);
          });
          return;
        }
        res.setHeader('x-nuvem-node', nodeId);
        holdIdleTimeout(req, res, idleTimeoutMs);
        listener(req, res);
      });
      server.setTimeout(idleTimeoutMs); // a socket idle that long is destroyed
      server.maxConnections = maxConnections;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => {
          reject(err.code === 'EADDRINUSE' ? new Error(`Port ${port} on ${host} is already in use; choose another with --port`) : err);
        });
        server.listen(port, host, resolve);
      });
      const address = server.address();
      return {
        port: typeof address === 'object' && address ? address.port : port,
        close: () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 2000).unref();
          }),
      };
    },
    async diskUsage(dir) {
      const s = await statfs(dir);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    },
    rawTarget: (c) => (c.env as NodeEnv | undefined)?.incoming?.url,
    requestHeader: (c, name) => {
      const incoming = (c.env as NodeEnv | undefined)?.incoming;
      return incoming ? headerOf(incoming, name) : c.req.header(name);
    },
    requestBody: (c) => (c.env as NodeEnv | undefined)?.incoming,
  };
}

/**
 * While a request's answer is being worked out (its body all received, no
 * headers sent yet), the socket's idle timeout waits: a recursive DELETE or
 * a folder MOVE of 100,000 entries sends nothing for minutes and must still
 * get its answer. The timeout applies again from the answer's headers on
 * (a download the client stops reading is cut off as before), and while a
 * body is still arriving (a stalled upload is cut off as before).
 */
function holdIdleTimeout(req: IncomingMessage, res: ServerResponse, idleMs: number): void {
  const socket = req.socket;
  const hold = () => {
    if (!res.headersSent) socket.setTimeout(0);
  };
  const release = () => socket.setTimeout(idleMs);
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    release();
    return writeHead.apply(this, args);
  } as ServerResponse['writeHead'];
  const body = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (!body || req.complete) hold();
  else req.once('end', hold);
}
