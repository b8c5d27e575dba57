import { Agent, type IncomingMessage, request } from 'node:http';

/**
 * GETs of file content from peers (`/internal/content/{sha256}`), over
 * node:http with kept-alive connections rather than fetch: a catch-up fetches
 * one file per change, and for 4 KiB bodies fetch cost three times the CPU
 * per request (client and server together, 16 at a time: 445-940 µs against
 * 130-300). Like push.ts, the one other place a node speaks node:http to a
 * peer, it is a seam: Deno runs it through its node:http.
 */
export class PeerGets {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 32 });
  readonly #token?: string;
  readonly #idleMs: number;

  /** `idleMs`: a response that sends nothing for this long (headers or body) fails. */
  constructor(options: { token?: string; idleMs?: number } = {}) {
    this.#token = options.token;
    this.#idleMs = options.idleMs ?? 30_000;
  }

  /**
   * The body of a 200 answer to GET `url`. Any other status rejects with an
   * error whose `status` is that status (the body is discarded).
   */
  body(url: string): Promise<AsyncIterable<Uint8Array>> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = this.#token ? { authorization: `Bearer ${this.#token}` } : {};
      const req = request(url, { agent: this.#agent, headers }, (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(Object.assign(new Error(`${url}: ${res.statusCode}`), { status: res.statusCode }));
          return;
        }
        resolve(res);
      });
      req.setTimeout(this.#idleMs, () => req.destroy(new Error(`${url}: no bytes for ${this.#idleMs} ms`)));
      req.on('error', reject); // before the answer; after it, the body's reader sees the error
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
