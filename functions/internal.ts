/**
 * Node-to-node routes (authenticated like every route when a token is set):
 * content by SHA-256, per-origin change logs for catch-up, and digests for
 * anti-entropy.
 */
import { Hono } from 'hono';
import { NuvemError } from '../protocol/errors.ts';
import type { Deps } from './deps.ts';
import { clampInt } from './headers.ts';
import { NODE_ID } from '../protocol/version.ts';
import { BUCKETS } from '../protocol/digest_buckets.ts';

const bad = (message: string) => new NuvemError('bad_request', message);

export function internalApp(deps: Deps): Hono {
  const app = new Hono();

  app.get('/internal/content/:sha', async (c) => {
    const sha = c.req.param('sha');
    if (!/^[0-9a-f]{64}$/.test(sha)) throw bad('Expected a SHA-256 in hex');
    const content = await deps.store.openContent(sha);
    if (!content) throw new NuvemError('not_found', `No content ${sha} on this node`);
    return new Response(content.body, { headers: { 'content-length': String(content.size), 'content-type': 'application/octet-stream' } });
  });

  // A peer's upload, pushed here while it streams in (nodes/push.ts, nodes/staging.ts).
  app.put('/internal/stage', async (c) => {
    const origin = c.req.header('x-nuvem-origin') ?? '';
    if (!NODE_ID.test(origin)) throw bad('Expected X-Nuvem-Origin: <node id>');
    const size = Number(c.req.header('x-nuvem-size') ?? 'NaN');
    if (!Number.isSafeInteger(size) || size < 0) throw bad('Expected X-Nuvem-Size: <bytes>');
    const body = deps.requestBody?.(c) ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null);
    if (!body) throw bad('Expected a body');
    return c.json(await deps.store.staging.receive(origin, size, body));
  });

  app.get('/internal/log', (c) => {
    const origin = c.req.query('origin') ?? '';
    const after = Number(c.req.query('after') ?? '0');
    if (!NODE_ID.test(origin)) throw bad('Expected ?origin=<node id>');
    if (!Number.isSafeInteger(after) || after < 0) throw bad('Expected ?after=<seq>');
    const limit = clampInt(c.req.query('limit'), { min: 1, max: 5000, fallback: 1000 });
    // Pruned below what every member held: the asker repairs by digests instead (nodes/resync.ts).
    const floor = deps.store.logFloor(origin);
    if (after < floor) {
      throw new NuvemError('gone', `The changes of ${origin} after ${after} were pruned from this log (up to ${floor})`, { floor, applied: deps.store.applied() });
    }
    // ?bytes=N: small files' bytes ride along, at most N of them per page (a longer page is cut there).
    const maxBytes = clampInt(c.req.query('bytes'), { min: 0, max: 16 * 1024 * 1024, fallback: 0 });
    if (maxBytes > 0) return c.json({ ...deps.store.logPage(origin, after, { limit, maxBytes }), applied: deps.store.applied() });
    return c.json({ changes: deps.store.logFor(origin, after, limit), applied: deps.store.applied() });
  });

  app.get('/internal/digest', async (c) => c.json(await deps.store.servedDigest()));

  app.get('/internal/digest/:bucket', async (c) => {
    const bucket = Number(c.req.param('bucket'));
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKETS) throw bad(`Expected a bucket from 0 to ${BUCKETS - 1}`);
    return c.json({ records: await deps.store.bucketRecords(bucket, c.req.query('scan')?.slice(0, 64)) });
  });

  return app;
}
