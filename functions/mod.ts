/**
 * The HTTP API of a node (DESIGN.md section 3), built from one sub-app per
 * concern. Web-standard Request/Response only: serve it with
 * `@hono/node-server`, `Deno.serve(app.fetch)`, or call `app.request()` in tests.
 */
import { Hono } from 'hono';
import { NuvemError } from '../nodes/errors.ts';
import { bearerCheck } from './auth.ts';
import { changesApp } from './changes.ts';
import { dashboardApp } from './dashboard.ts';
import { deleteApp } from './delete.ts';
import type { Deps } from './deps.ts';
import { downloadApp, isPlainRead, smallReads, type SmallAnswer } from './download.ts';
import { errorAnswer, onError } from './errors.ts';
import { revisionsApp } from './listing.ts';
import { mkcolApp } from './mkcol.ts';
import { internalApp } from './internal.ts';
import { moveApp } from './move.ts';
import { statusApp } from './status.ts';
import { parseEncodedPath } from '../nodes/paths.ts';
import { checkRawTarget } from './target.ts';
import { uploadApp, uploader, type UploadRequest } from './upload.ts';
import { parseWriteConcern } from './headers.ts';

export type { Deps, Replication } from './deps.ts';
export type { SmallAnswer } from './download.ts';

/**
 * The plain read of a small file held in memory, answered before the
 * framework sees the request (a runtime may call it first; `undefined` means
 * "serve it through the app"). Only a GET of `/files/{path}` with no query,
 * no Range, If-None-Match or If-Range, on a node without a token, of a path
 * the app would accept: the answer is the one the GET handler gives, counted
 * in the same metrics.
 */
export type FastRead = (method: string, target: string, header: (name: string) => string | undefined) => SmallAnswer | undefined;

/** A complete answer a runtime writes as it is (Content-Length included). */
export interface FastAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * A plain upload, handled before the framework sees the request (a runtime
 * may call it first; `undefined` means "serve it through the app", decided
 * before the body is touched). Only a PUT of `/files/{path}` with no query
 * but `w=`, on a node without a token, of a path the app would accept; it
 * runs the PUT handler's code (upload.ts: `uploader`) and answers what the
 * app would, errors included, counted in the same metrics. The promise
 * always resolves.
 */
export type FastWrite = (
  method: string,
  target: string,
  header: (name: string) => string | undefined,
  body: AsyncIterable<Uint8Array>,
) => Promise<FastAnswer> | undefined;

export type NodeApp = Hono & { fastRead: FastRead; fastWrite: FastWrite };

const encoder = new TextEncoder();

/** The only query a fast upload may carry: none, or the write concern. */
const PLAIN_QUERY = /^(?:\?w=[A-Za-z0-9]*)?$/;

const FILE_METHODS = 'GET, HEAD, PUT, DELETE, MOVE, MKCOL';

export function createApp(deps: Deps): NodeApp {
  const app = new Hono();
  const small = smallReads(deps);
  const answered = new Map<string, number>(); // "METHOD STATUS" → count
  const count = (method: string, status: number) => {
    const key = `${method} ${status}`;
    answered.set(key, (answered.get(key) ?? 0) + 1);
  };
  deps.metrics.counterFrom('nuvem_http_requests_total', 'HTTP requests answered, by method and status', () =>
    [...answered].map(([key, value]) => {
      const [method, code] = key.split(' ');
      return { labels: { method, code }, value };
    }));
  let inflight = 0;
  deps.metrics.gauge('nuvem_http_inflight_requests', 'HTTP requests being handled', () => inflight);
  app.use('*', async (c, next) => {
    inflight++;
    try {
      await next();
    } finally {
      inflight--;
      // A runtime that stamps the header itself spares every answer a Headers copy.
      if (!deps.stampsNodeHeader) c.res.headers.set('x-nuvem-node', deps.nodeId);
      count(c.req.method, c.res.status);
    }
  });
  const checkToken = deps.token === undefined ? undefined : bearerCheck(deps.token);
  app.use('*', async (c, next) => {
    checkRawTarget(deps.rawTarget?.(c));
    if (checkToken && c.req.path !== '/health') await checkToken(c.req.header('authorization'));
    await next();
  });
  const upload = uploader(deps);
  for (const sub of [(d: Deps) => uploadApp(d, upload), (d: Deps) => downloadApp(d, small), deleteApp, moveApp, mkcolApp, revisionsApp, changesApp, statusApp, dashboardApp, internalApp]) {
    app.route('/', sub(deps));
  }
  app.all('/files/*', () => {
    throw new NuvemError('method_not_allowed', `Use one of ${FILE_METHODS} on /files/`, { allow: FILE_METHODS });
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError(onError(deps.log));
  const fastRead: FastRead = (method, target, header) => {
    if (checkToken || !target.startsWith('/files/') || !isPlainRead(method, target, header)) return undefined;
    const rest = target.slice('/files/'.length);
    if (rest === '' || rest.endsWith('/')) return undefined;
    let answer;
    try {
      checkRawTarget(target);
      answer = small.read(parseEncodedPath(rest));
    } catch {
      return undefined; // the app answers it, with its error
    }
    if (answer) count('GET', 200);
    return answer;
  };
  const fastWrite: FastWrite = (method, target, header, body) => {
    if (method !== 'PUT' || checkToken || !target.startsWith('/files/')) return undefined;
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const encodedPath = rawPath.slice('/files/'.length);
    if (!PLAIN_QUERY.test(query) || rawPath.includes('#') || encodedPath === '' || encodedPath.endsWith('/')) return undefined;
    let parsed: Pick<UploadRequest, 'path' | 'w'>;
    try {
      checkRawTarget(target);
      parsed = { path: parseEncodedPath(encodedPath), w: parseWriteConcern(query === '' ? undefined : query.slice('?w='.length)) };
    } catch {
      return undefined; // the app answers it, with its error
    }
    inflight++;
    const answer = (status: number, headers: Record<string, string>, json: string): FastAnswer => {
      inflight--;
      count('PUT', status);
      const bytes = encoder.encode(json);
      return { status, headers: { ...headers, 'content-length': String(bytes.byteLength), 'x-nuvem-node': deps.nodeId }, body: bytes };
    };
    return upload({ ...parsed, header, body }).then(
      (a) => answer(a.status, { 'content-type': 'application/json', etag: a.etag }, JSON.stringify(a.record)),
      (err) => {
        const a = errorAnswer(err, deps.log, { method, path: rawPath });
        return answer(a.status, a.headers, a.body);
      },
    );
  };
  return Object.assign(app, { fastRead, fastWrite });
}
