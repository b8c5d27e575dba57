/** `GET` and `HEAD /files/{path}`: the current or a kept version, with ranges and conditions. */
import { Hono, type Context } from 'hono';
import { NuvemError } from '../nodes/errors.ts';
import { parseEncodedPath } from '../nodes/paths.ts';
import type { Deps } from './deps.ts';
import { formatContentDigest, parseEtagList, parseRange } from './headers.ts';
import { listFolderResponse } from './listing.ts';
import { encodedRest } from './target.ts';

export function downloadApp(deps: Deps): Hono {
  const app = new Hono();
  const sent = deps.metrics.counter('nuvem_bytes_sent_total', 'File content bytes sent in downloads');
  const handler = async (c: Context) => {
    const rest = encodedRest(c, deps, '/files/');
    if (rest === '' || rest.endsWith('/')) return listFolderResponse(c, deps, rest);
    const path = parseEncodedPath(rest);
    const version = c.req.query('version');
    const minVersion = c.req.query('min_version');
    const readable = await deps.store.read(path, { version });
    const r = readable.record;
    if (minVersion !== undefined && r.version < minVersion) {
      throw new NuvemError('unavailable', `This node does not have version "${minVersion}" of "${path}" yet`, {
        retryAfter: 1,
        have: r.version,
      });
    }
    const headers: Record<string, string> = {
      etag: `"${r.version}"`,
      'last-modified': new Date(r.modified).toUTCString(),
      'content-type': r.contentType,
      'accept-ranges': 'bytes',
    };
    const inm = parseEtagList(c.req.header('if-none-match'), 'If-None-Match');
    if (inm === '*' || inm?.includes(r.version)) return new Response(null, { status: 304, headers });
    const range = parseRange(c.req.header('range'), r.size);
    const start = range?.start ?? 0;
    const end = range?.end ?? r.size - 1;
    headers['content-length'] = String(end + 1 - start);
    if (range) headers['content-range'] = `bytes ${start}-${end}/${r.size}`;
    else headers['content-digest'] = formatContentDigest(r.sha256);
    const status = range ? 206 : 200;
    if (c.req.method === 'HEAD') return new Response(null, { status, headers });
    sent({}, end + 1 - start);
    const body = r.size === 0 ? new Uint8Array(0) : await readable.open(start, end);
    return new Response(body as BodyInit, { status, headers });
  };
  app.get('/files/*', handler);
  app.on('HEAD', '/files/*', handler);
  return app;
}
