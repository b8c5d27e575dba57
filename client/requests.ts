/**
 * Builds the request for each operation: method, target (path and query,
 * relative to a node's base URL) and headers. Pure: no I/O, no node choice,
 * no token — `mod.ts` adds those and sends it.
 *
 * @example
 * moveRequest('a.txt', 'b/a.txt', { overwrite: false })
 * // { method: 'MOVE', target: '/files/a.txt',
 * //   headers: { destination: '/files/b/a.txt', overwrite: 'F' } }
 */
import { contentDigestHeader } from '../protocol/content_digest.ts';
import { fileTarget, folderTarget, revisionsTarget } from './paths.ts';
import type { ByteRange, ChangeOptions, GetOptions, MoveOptions, PutOptions, RemoveOptions } from './types.ts';

export interface NuvemRequest {
  method: string;
  /** Path and query, e.g. `/files/a%20b.txt?w=2`; appended to a node's base URL. */
  target: string;
  headers: Record<string, string>;
}

/** `GET` and `HEAD` change nothing, so they may be retried on another node. */
export function isSafe(request: NuvemRequest): boolean {
  return request.method === 'GET' || request.method === 'HEAD';
}

const writeQuery = (options: ChangeOptions) => ({ w: options.w });

/** `If-Match` wants a quoted entity tag; versions are passed bare. */
export function quoteVersion(version: string): string {
  return version.startsWith('"') || version.startsWith('W/') ? version : `"${version}"`;
}

export function putRequest(path: string, options: Omit<PutOptions, 'onProgress' | 'signal'> = {}): NuvemRequest {
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/octet-stream',
  };
  if (options.size !== undefined) headers['content-length'] = String(options.size);
  if (options.sha256 !== undefined) headers['content-digest'] = contentDigestHeader(options.sha256);
  if (options.ifMatch !== undefined) headers['if-match'] = quoteVersion(options.ifMatch);
  if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
  return { method: 'PUT', target: fileTarget(path, writeQuery(options)), headers };
}

/** The `Range` header for a range object or a header value given as is. */
export function rangeHeader(range: string | ByteRange): string {
  if (typeof range === 'string') return range;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new RangeError(`Cannot ask for bytes ${start}-${end ?? ''}: expected 0 <= start <= end`);
  }
  return `bytes=${start}-${end ?? ''}`;
}

/** Read-only details of a `GET` the library adds: freshness and resumption. */
export interface ReadExtras {
  /** `?min_version=`: the node answers 503 rather than with an older version. */
  minVersion?: string;
  /** `If-Range`: a range of this version only (a resumed download). */
  ifRange?: string;
}

export function getRequest(path: string, options: Omit<GetOptions, 'signal'> & ReadExtras = {}): NuvemRequest {
  const headers: Record<string, string> = {};
  if (options.range !== undefined) headers.range = rangeHeader(options.range);
  if (options.ifRange !== undefined) headers['if-range'] = quoteVersion(options.ifRange);
  return { method: 'GET', target: fileTarget(path, { version: options.version, min_version: options.minVersion }), headers };
}

export function headRequest(path: string, options: Pick<ReadExtras, 'minVersion'> = {}): NuvemRequest {
  return { method: 'HEAD', target: fileTarget(path, { min_version: options.minVersion }), headers: {} };
}

export function deleteRequest(path: string, options: RemoveOptions = {}): NuvemRequest {
  return {
    method: 'DELETE',
    target: fileTarget(path, { recursive: options.recursive ? 'true' : undefined, purge: options.purge ? 'true' : undefined, ...writeQuery(options) }),
    headers: options.ifMatch === undefined ? {} : { 'if-match': quoteVersion(options.ifMatch) },
  };
}

export function moveRequest(from: string, to: string, options: MoveOptions = {}): NuvemRequest {
  return {
    method: 'MOVE',
    target: fileTarget(from, writeQuery(options)),
    headers: {
      destination: fileTarget(to),
      overwrite: options.overwrite === false ? 'F' : 'T',
      ...(options.ifMatch === undefined ? {} : { 'if-match': quoteVersion(options.ifMatch) }),
    },
  };
}

export function mkcolRequest(path: string, options: ChangeOptions = {}): NuvemRequest {
  return { method: 'MKCOL', target: fileTarget(path, writeQuery(options)), headers: {} };
}

export function listRequest(folder: string, options: { recursive?: boolean; cursor?: string; limit?: number } = {}): NuvemRequest {
  return {
    method: 'GET',
    target: folderTarget(folder, {
      recursive: options.recursive ? 'true' : undefined,
      limit: options.limit,
      cursor: options.cursor || undefined,
    }),
    headers: { accept: 'application/json' },
  };
}

export function revisionsRequest(path: string): NuvemRequest {
  return { method: 'GET', target: revisionsTarget(path), headers: { accept: 'application/json' } };
}
