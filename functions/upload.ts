/** `PUT /files/{path}`: stores a streamed body. */
import { Hono } from 'hono';
import { parseEncodedPath } from '../nodes/paths.ts';
import type { Deps } from './deps.ts';
import { parseConditions, parseContentDigest, parseContentType, parseWriteConcern } from './headers.ts';
import { encodedRest } from './target.ts';

const EMPTY: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

export function uploadApp(deps: Deps): Hono {
  const app = new Hono();
  app.put('/files/*', async (c) => {
    const path = parseEncodedPath(encodedRest(c, deps, '/files/'));
    const w = parseWriteConcern(c.req.query('w'));
    const options = {
      ...parseConditions((n) => c.req.header(n)),
      sha256: parseContentDigest(c.req.header('content-digest')),
      contentType: parseContentType(c.req.header('content-type')),
    };
    const raw = deps.requestBody?.(c) ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? EMPTY;
    const length = c.req.header('content-length');
    const body = deps.replication.streamToPeers?.(raw, length && /^\d+$/.test(length) ? Number(length) : undefined) ?? raw;
    const { record, created } = await deps.store.put(path, body, options);
    deps.metrics.counter('nuvem_bytes_received_total', 'File content bytes stored from uploads')({}, record.size);
    const replicas = await deps.replication.awaitConcern([record], w);
    return c.json({ ...record, replicas }, created ? 201 : 200, { etag: `"${record.version}"` });
  });
  return app;
}
