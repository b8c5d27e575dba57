/** Node.js runtime seam: node:http server, raw request target and body, disk usage. */
import { createServer } from 'node:http';
import { statfs } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Runtime } from './mod.ts';

type NodeEnv = { incoming?: IncomingMessage };

/** A request header by lower-case name, as one string. */
function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

export function nodeRuntime(): Runtime {
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
      // requestTimeout 0: Node's default (300 s for a whole request) would cut off
      // any upload or download that takes longer, e.g. 10 GiB at 30 MB/s.
      const server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 0 }, (req, res) => {
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
        listener(req, res);
      });
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
