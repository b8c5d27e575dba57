/**
 * Raw HTTP requests with `node:http`: the target is sent exactly as given
 * (fetch and `new URL` would remove `.`/`..` segments), and the answer comes
 * back whole with its body as bytes.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { Agent, request } from 'node:http';

/** Connections are kept alive between requests (faster); pass `fresh` for a connection of its own. */
const agent = new Agent({ keepAlive: true });

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

export function rawRequest(
  baseUrl: string,
  options: { method?: string; target: string; headers?: Record<string, string>; body?: Uint8Array | string; fresh?: boolean },
): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port: Number(port), method: options.method ?? 'GET', path: options.target, headers: options.headers, agent: options.fresh ? false : agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(body.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
