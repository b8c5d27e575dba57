/** `GET` and `HEAD /files/{path}`: the current or a kept version, with ranges and conditions. */
import { Hono, type Context } from 'hono';
import { NuvemError } from '../protocol/errors.ts';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { FileRecord } from '../protocol/record.ts';
import type { Deps } from './deps.ts';
import { parseEtagList, parseRange } from './headers.ts';
import { listFolderResponse } from './listing.ts';
import { encodedRest } from './target.ts';
import { contentDigestHeader } from '../protocol/content_digest.ts';

/** Headers describing a version; the same for every answer about it. */
function versionHeaders(r: FileRecord): Record<string, string> {
  return {
    etag: `"${r.version}"`,
    'last-modified': new Date(r.modified).toUTCString(),
    'content-type': r.contentType,
    'accept-ranges': 'bytes',
    'x-nuvem-origin': r.origin,
    'x-nuvem-seq': String(r.seq),
    'x-nuvem-modified': String(r.modified),
  };
}

/**
 * A read whose answer depends on nothing but the current version: a GET with
 * no query and no Range, If-None-Match or If-Range header (If-Range matters
 * only with Range). The only reads a small file's memoised answer serves.
 */
export function isPlainRead(method: string, target: string, header: (name: string) => string | undefined): boolean {
  return method === 'GET' && !/[?#]/.test(target) && header('range') === undefined && header('if-none-match') === undefined && header('if-range') === undefined;
}

/** The complete answer to a plain read of a small file held in memory. */
export interface SmallAnswer {
  body: Uint8Array;
  headers: Record<string, string>;
}

/**
 * Plain reads of small files held in memory, by path: the answer (the
 * bytes and headers memoised by path and version, so the common read builds
 * nothing), or undefined when the file is not such a file. Shared by the
 * GET handler and the runtime's fast path (mod.ts: `fastRead`).
 */
export function smallReads(deps: Deps): { read(path: string): SmallAnswer | undefined; sentBytes(): number } {
  let sent = 0;
  const memo = new Map<string, { version: string; headers: Record<string, string> }>();
  const fullHeaders = (r: FileRecord) => {
    const hit = memo.get(r.path);
    if (hit?.version === r.version) return hit.headers;
    // With X-Nuvem-Node (every answer has it): a runtime can send these as they are.
    const headers = {
      ...versionHeaders(r), 'content-length': String(r.size), 'content-digest': contentDigestHeader(r.sha256), 'x-nuvem-node': deps.nodeId,
    };
    if (memo.size >= 10_000) memo.clear();
    memo.set(r.path, { version: r.version, headers });
    return headers;
  };
  return {
    read(path) {
      const small = deps.store.readSmall(path);
      if (!small) return undefined;
      sent += small.bytes.byteLength;
      return { body: small.bytes, headers: fullHeaders(small.record) };
    },
    sentBytes: () => sent,
  };
}

export function downloadApp(deps: Deps, small = smallReads(deps)): Hono {
  const app = new Hono();
  let sentBytes = 0;
  deps.metrics.counterFrom('nuvem_sent_bytes_total', 'File content bytes sent in downloads', () => [{ labels: {}, value: sentBytes + small.sentBytes() }]);
  const handler = async (c: Context) => {
    const rest = encodedRest(c, deps, '/files/');
    if (rest === '' || rest.endsWith('/')) return listFolderResponse(c, deps, rest);
    const path = parseEncodedPath(rest);
    // The runtime's own view of the request where it gives one: building the
    // Web Request's URL and Headers costs more than the rest of a cached read.
    const header = (name: string) => (deps.requestHeader ? deps.requestHeader(c, name) : c.req.header(name));
    const answer = isPlainRead(c.req.method, deps.rawTarget?.(c) ?? c.req.url, header) ? small.read(path) : undefined;
    if (answer) return new Response(answer.body as BodyInit, { status: 200, headers: answer.headers });
    const version = c.req.query('version');
    const minVersion = c.req.query('min_version');
    const readable = await deps.store.read(path, { version }).catch((err) => {
      // Not here yet is not "absent" when the client knows a newer version exists.
      const known = deps.store.get(path);
      if (minVersion !== undefined && err instanceof NuvemError && err.code === 'not_found' && (!known || known.version < minVersion)) {
        throw new NuvemError('unavailable', `This node does not have version "${minVersion}" of "${path}" yet`, { retryAfter: 1 });
      }
      throw err;
    });
    let body: Uint8Array | ReadableStream<Uint8Array> | null = null;
    try {
      const r = readable.record;
      if (minVersion !== undefined && r.version < minVersion) {
        throw new NuvemError('unavailable', `This node does not have version "${minVersion}" of "${path}" yet`, {
          retryAfter: 1,
          have: r.version,
        });
      }
      const headers = versionHeaders(r);
      const inm = parseEtagList(c.req.header('if-none-match'), 'If-None-Match');
      if (inm === '*' || inm?.includes(r.version)) return new Response(null, { status: 304, headers });
      // If-Range naming another version: the client's partial copy is stale, send it all.
      const ifRange = c.req.header('if-range');
      const range = ifRange !== undefined && ifRange !== `"${r.version}"` ? undefined : parseRange(c.req.header('range'), r.size);
      const start = range?.start ?? 0;
      const end = range?.end ?? r.size - 1;
      headers['content-length'] = String(end + 1 - start);
      if (range) headers['content-range'] = `bytes ${start}-${end}/${r.size}`;
      else headers['content-digest'] = contentDigestHeader(r.sha256);
      const status = range ? 206 : 200;
      if (c.req.method === 'HEAD' || r.size === 0) return new Response(c.req.method === 'HEAD' ? null : new Uint8Array(0), { status, headers });
      sentBytes += end + 1 - start;
      body = await readable.open(start, end);
      return new Response(body as BodyInit, { status, headers });
    } finally {
      if (body === null) await readable.close();
    }
  };
  app.get('/files/*', handler);
  app.on('HEAD', '/files/*', handler);
  return app;
}
