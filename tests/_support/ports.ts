/** Free loopback ports for tests that must name a port before something listens on it. */
import { createServer, type Server } from 'node:net';

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** `count` consecutive free ports (for `nuvem up --base-port`), and `extra` more free ports elsewhere. */
export async function freePorts(count: number, extra: number): Promise<{ base: number; others: number[] }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const held: Server[] = [];
    try {
      const first = await listenOn(0);
      held.push(first);
      const base = (first.address() as { port: number }).port;
      if (base + count > 65535) continue;
      for (let i = 1; i < count; i++) held.push(await listenOn(base + i));
      const others: number[] = [];
      for (let i = 0; i < extra; i++) {
        const s = await listenOn(0);
        held.push(s);
        others.push((s.address() as { port: number }).port);
      }
      return { base, others };
    } catch {
      // a neighbour was taken: try another run
    } finally {
      await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error('no run of free ports found');
}
