/** `PUT /files/{path}`: stores a streamed body. */
import { Hono } from 'hono';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { FileRecord } from '../protocol/record.ts';
import type { Deps } from './deps.ts';
import { parseConditions, parseContentType } from './headers.ts';
import { encodedRest } from './target.ts';
import { parseContentDigest } from '../protocol/content_digest.ts';
import { parseWriteConcern, type WriteConcern } from '../protocol/write_concern.ts';

const EMPTY: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/** An upload as any entry point sees it: the Hono route, or a runtime's fast path (mod.ts: `fastWrite`). */
export interface UploadRequest {
  /** The file's path (parseEncodedPath of what follows `/files/`). */
  path: string;
  /** The write concern (parseWriteConcern of the `w` query parameter). */
  w: WriteConcern;
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
  const received = deps.metrics.counter('nuvem_received_bytes_total', 'File content bytes stored from uploads');
  return async (req) => {
    await deps.admitUpload?.(); // before a byte of the body is read or pushed to peers
    const options = {
      ...parseConditions(req.header),
      sha256: parseContentDigest(req.header('content-digest')),
      contentType: parseContentType(req.header('content-type')),
    };
    const length = req.header('content-length');
    const body = deps.replication.streamToPeers?.(req.body, length && /^\d+$/.test(length) ? Number(length) : undefined) ?? req.body;
    const { record, created } = await deps.store.put(req.path, body, options);
    received({}, record.size);
    const replicas = await deps.replication.awaitConcern([record], req.w);
    return { status: created ? 201 : 200, record: { ...record, replicas }, etag: `"${record.version}"` };
  };
}

export function uploadApp(deps: Deps, upload = uploader(deps)): Hono {
  const app = new Hono();
  app.put('/files/*', async (c) => {
    const answer = await upload({
      path: parseEncodedPath(encodedRest(c, deps, '/files/')),
      w: parseWriteConcern(c.req.query('w')),
      header: (n) => c.req.header(n),
      body: deps.requestBody?.(c) ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? EMPTY,
    });
    return c.json(answer.record, answer.status, { etag: answer.etag });
  });
  return app;
}
