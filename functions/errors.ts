/**
 * The one place where errors become HTTP answers: `{"error": code, "message": text}`
 * with the status that fits the code.
 */
import type { Context } from 'hono';
import type { Log } from '../protocol/log.ts';
import { NuvemError, type ErrorCode } from '../protocol/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_path: 400,
  bad_request: 400,
  bad_digest: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  precondition_failed: 412,
  gone: 410,
  too_large: 413,
  range_not_satisfiable: 416,
  write_concern: 503,
  unavailable: 503,
  disk_full: 507,
  internal: 500,
};

/** An error answer's parts, for a runtime that writes them itself (mod.ts: `fastWrite`). */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function nuvemErrorAnswer(err: NuvemError): ErrorAnswer {
  const status = STATUS[err.code] ?? 500;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (typeof err.extra.allow === 'string') headers.allow = err.extra.allow;
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  if (status === 503) headers['retry-after'] = String(err.extra.retryAfter ?? 1);
  if (typeof err.extra.contentRange === 'string') headers['content-range'] = err.extra.contentRange;
  const { allow: _a, retryAfter: _r, contentRange: _c, ...extra } = err.extra;
  return { status, headers, body: JSON.stringify({ error: err.code, message: err.message, ...extra }) };
}

/** Any error as an answer: domain errors as they are; anything else is a 500 that says little (and is logged). */
export function errorAnswer(err: unknown, log: Log, request: { method: string; path: string }): ErrorAnswer {
  if (err instanceof NuvemError) return nuvemErrorAnswer(err);
  if (isClientGone(err)) {
    log('info', 'client went away mid-request', request);
    return nuvemErrorAnswer(new NuvemError('bad_request', 'The request body ended early; nothing was stored'));
  }
  log('error', 'request failed', { ...request, error: String((err as Error)?.stack ?? err) });
  return nuvemErrorAnswer(new NuvemError('internal', 'The node failed to handle this request; see its log'));
}

/** Hono `onError`: the answer of `errorAnswer`. */
export function onError(log: Log) {
  return (err: Error, c: Context): Response => {
    const a = errorAnswer(err, log, { method: c.req.method, path: c.req.path });
    return new Response(a.body, { status: a.status, headers: a.headers });
  };
}

/** A request whose client disconnected before its body was complete. */
function isClientGone(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted';
}
