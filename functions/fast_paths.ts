/**
 * The runtime fast paths: a plain small read and a plain upload, answered on
 * the runtime's own request before Hono builds Web Request and Response
 * objects. Each answers exactly what the app would, errors included, counted
 * in the same metrics; anything else (`undefined`) goes through the app.
 */
import { hostAllowed } from '../protocol/origins.ts';
import { parseEncodedPath } from '../protocol/paths.ts';
import { parseWriteConcern } from '../protocol/write_concern.ts';
import type { Deps } from './deps.ts';
import { isPlainRead, type SmallAnswer, type smallReads } from './download.ts';
import { errorAnswer } from './errors.ts';
import type { RequestCounters } from './request_counters.ts';
import { checkRawTarget } from './target.ts';
import type { UploadRequest, uploader } from './upload.ts';

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

export interface FastPaths {
  fastRead: FastRead;
  fastWrite: FastWrite;
}

const encoder = new TextEncoder();

/** The only query a fast upload may carry: none, or the write concern. */
const PLAIN_QUERY = /^(?:\?w=[A-Za-z0-9]*)?$/;

export function fastPaths(deps: Deps, shared: {
  small: ReturnType<typeof smallReads>;
  upload: ReturnType<typeof uploader>;
  requests: RequestCounters;
  /** Fast paths serve only nodes without a token. */
  hasToken: boolean;
}): FastPaths {
  const { small, upload, requests, hasToken } = shared;
  const foreignHost = (header: (name: string) => string | undefined) => deps.allowedHosts !== undefined && !hostAllowed(header('host'), deps.allowedHosts);
  const fastRead: FastRead = (method, target, header) => {
    if (hasToken || foreignHost(header) || !target.startsWith('/files/') || !isPlainRead(method, target, header)) return undefined;
    const rest = target.slice('/files/'.length);
    if (rest === '' || rest.endsWith('/')) return undefined;
    let answer;
    try {
      checkRawTarget(target);
      answer = small.read(parseEncodedPath(rest));
    } catch {
      return undefined; // the app answers it, with its error
    }
    if (answer) requests.count('GET', 200, '/files/{path}');
    return answer;
  };
  const fastWrite: FastWrite = (method, target, header, body) => {
    if (method !== 'PUT' || hasToken || foreignHost(header) || !target.startsWith('/files/')) return undefined;
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
    requests.inflight++;
    const answer = (status: number, headers: Record<string, string>, json: string): FastAnswer => {
      requests.inflight--;
      requests.count('PUT', status, '/files/{path}');
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
  return { fastRead, fastWrite };
}
