/** `PUT /files/{path}`: stores a streamed body. */
import { Hono } from 'hono';
import { parseEncodedPath } from '../nodes/paths.ts';
import type { FileRecord } from '../nodes/record.ts';
import type { Deps } from './deps.ts';
import { parseConditions, parseContentDigest, parseContentType, parseWriteConcern } from './headers.ts';
import { encodedRest } from './target.ts';

const EMPTY: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/** An upload as any entry point sees it: the Hono route, or a runtime's fast path (mod.ts: `fastWrite`). */
export interface UploadRequest {
  /** The still-encoded path after `/files/`. */
  encodedPath: string;
  /** The `w` query parameter (write concern), if any. */
  w: string | undefined;
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
}

export interface UploadAnswer {
  status: 200 | 201;
  record: FileRecord & { replicas: string[] };
  etag: string;
}

/** Stores the body, then waits for the write concern. Throws NuvemErrors for the error answer. */
export function uploader(deps: Deps): (req: UploadRequest) => Promise<UploadAnswer> {
  const received = deps.metrics.counter('nuvem_bytes_received_total', 'File content bytes stored from uploads');
  return async (req) => {
    const path = parseEncodedPath(req.encodedPath);
    const w = parseWriteConcern(req.w);
    const options = {
      ...parseConditions(req.header),
      sha256: parseContentDigest(req.header('content-digest')),
      contentType: parseContentType(req.header('content-type')),
    };
    const length = req.header('content-length');
    const body = deps.replication.streamToPeers?.(req.body, length && /^\d+$/.test(length) ? Number(length) : undefined) ?? req.body;
    const { record, created } = await deps.store.put(path, body, options);
    received({}, record.size);
    const replicas = await deps.replication.awaitConcern([record], w);
    return { status: created ? 201 : 200, record: { ...record, replicas }, etag: `"${record.version}"` };
  };
}

export function uploadApp(deps: Deps, upload = uploader(deps)): Hono {
  const app = new Hono();
  app.put('/files/*', async (c) => {
    const answer = await upload({
      encodedPath: encodedRest(c, deps, '/files/'),
      w: c.req.query('w'),
      header: (n) => c.req.header(n),
      body: deps.requestBody?.(c) ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? EMPTY,
    });
    return c.json(answer.record, answer.status, { etag: answer.etag });
  });
  return app;
}
