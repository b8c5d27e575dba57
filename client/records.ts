/**
 * Reading records from what a node sends. Pure: no I/O.
 */
import { readContentDigest } from '../protocol/content_digest.ts';
import type { NuvemEntry, NuvemRecord } from './types.ts';

/** `"v1"` or `W/"v1"` → `v1`. */
export function unquoteEtag(etag: string | null): string {
  if (!etag) return '';
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function numberHeader(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A file's record from the headers of a `GET`/`HEAD` answer: `ETag` (version),
 * `Content-Length`, `Content-Digest`, `Last-Modified`, `Content-Type`, and the
 * `X-Nuvem-*` headers when the node sends them (`-Modified` in ms, `-Origin`,
 * `-Seq`). `Last-Modified` has whole seconds only, so an exact `X-Nuvem-Modified`
 * wins.
 */
export function recordFromHeaders(path: string, headers: Headers): NuvemEntry {
  const lastModified = headers.get('last-modified');
  const modified = numberHeader(headers, 'x-nuvem-modified') ?? (lastModified ? Date.parse(lastModified) : NaN);
  const record: NuvemEntry = {
    path,
    type: 'file',
    version: unquoteEtag(headers.get('x-nuvem-version') ?? headers.get('etag')),
    size: numberHeader(headers, 'x-nuvem-size') ?? numberHeader(headers, 'content-length') ?? 0,
    sha256: headers.get('x-nuvem-sha256') ?? readContentDigest(headers.get('content-digest')) ?? '',
    modified: Number.isFinite(modified) ? modified : 0,
  };
  const contentType = headers.get('content-type');
  if (contentType) record.contentType = contentType;
  const origin = headers.get('x-nuvem-origin');
  if (origin) record.origin = origin;
  const seq = numberHeader(headers, 'x-nuvem-seq');
  if (seq !== undefined) record.seq = seq;
  return record;
}

/** Checks the shape of a JSON answer enough to use it safely. */
export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new TypeError(`Cannot read ${what}: expected a JSON object`);
}

/** One page of a listing: `{entries, next_cursor}`. */
export function parseListPage(value: unknown): { entries: NuvemEntry[]; nextCursor: string } {
  const page = asObject(value, 'the folder listing');
  if (!Array.isArray(page.entries)) throw new TypeError('Cannot read the folder listing: "entries" is not a list');
  const next = page.next_cursor;
  return { entries: page.entries as NuvemEntry[], nextCursor: typeof next === 'string' ? next : '' };
}

/** `{revisions:[record…]}`. */
export function parseRevisions(value: unknown): NuvemRecord[] {
  const body = asObject(value, 'the revisions');
  if (!Array.isArray(body.revisions)) throw new TypeError('Cannot read the revisions: "revisions" is not a list');
  return body.revisions as NuvemRecord[];
}
