/**
 * Shared by the `tests/http_*.test.ts` files: requests and checks against the
 * HTTP API of an in-process node (`inProcessNode`, through `app.request()`).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { InProcessNode } from './in_process.ts';

/** The fields every file record carries. */
export const FIELDS = ['path', 'type', 'version', 'size', 'sha256', 'modified', 'contentType', 'deleted', 'origin', 'seq'];

export async function put(node: InProcessNode, path: string, body: Uint8Array | string, headers: Record<string, string> = {}) {
  return node.request(`/files/${path}`, { method: 'PUT', body: body as BodyInit, headers });
}

export async function bytes(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

export async function errorOf(res: Response, status: number, code: string): Promise<any> {
  const text = await res.text();
  assert.is(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text);
  assert.is(body.error, code, text);
  assert.type(body.message, 'string');
  assert.ok(body.message.length > 0);
  return body;
}

export async function current(node: InProcessNode, path: string): Promise<{ status: number; body: Buffer; etag: string | null }> {
  const res = await node.request(`/files/${path}`);
  return { status: res.status, body: await bytes(res), etag: res.headers.get('etag') };
}

export function tmpEntries(node: InProcessNode): string[] {
  return readdirSync(join(node.dataDir, '.nuvem', 'tmp'));
}
