/**
 * Path rules (DESIGN.md section 2). Pure: no I/O.
 *
 * A path is relative, `/`-separated UTF-8, compared byte-wise after NFC.
 *
 * @example
 * parsePath('photos/2026/a.jpg') // 'photos/2026/a.jpg'
 * parsePath('a/../b')            // throws NuvemError('invalid_path')
 */
import { invalidPath } from './errors.ts';

export const MAX_PATH_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;
const RESERVED = new Set(['.nuvem']);
const encoder = new TextEncoder();

/** Validates an already-decoded path and returns its NFC form. */
export function parsePath(raw: string): string {
  if (raw === '') throw invalidPath(raw, 'the path is empty');
  if (raw.startsWith('/')) throw invalidPath(raw, 'a path must not start with "/"');
  if (raw.includes('\\')) throw invalidPath(raw, 'backslash is not allowed');
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalidPath(raw, 'control characters are not allowed');
  if (/[\ud800-\udfff]/.test(raw) && !raw.isWellFormed?.()) throw invalidPath(raw, 'not valid UTF-8');
  const path = raw.normalize('NFC');
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    throw invalidPath(raw, `longer than ${MAX_PATH_BYTES} bytes`);
  }
  for (const segment of path.split('/')) {
    if (segment === '') throw invalidPath(raw, 'empty segment');
    if (segment === '.' || segment === '..') throw invalidPath(raw, `"${segment}" segments are not allowed`);
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) {
      throw invalidPath(raw, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (RESERVED.has(segment.toLowerCase())) throw invalidPath(raw, `"${segment}" is reserved by the store`);
  }
  return path;
}

/** Decodes a percent-encoded path (as found in a URL) and validates it. */
export function parseEncodedPath(encoded: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw invalidPath(encoded, 'invalid percent-encoding');
  }
  return parsePath(decoded);
}

/** A folder path for listing: '' is the root; otherwise a valid path. Accepts a trailing '/'. */
export function parseFolder(encoded: string): string {
  const trimmed = encoded.endsWith('/') ? encoded.slice(0, -1) : encoded;
  return trimmed === '' ? '' : parseEncodedPath(trimmed);
}

/** Encodes each segment for use in a URL. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** All ancestors of a path, nearest last: 'a/b/c' → ['a', 'a/b']. */
export function ancestorsOf(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** Is `path` inside folder `folder` ('' is the root)? */
export function isInside(path: string, folder: string): boolean {
  return folder === '' || path.startsWith(folder + '/');
}

/**
 * The half-open key range [lo, hi) holding every path strictly inside `folder`,
 * in byte order ('/' + 1 is '0').
 */
export function subtreeRange(folder: string): [string, string] {
  return folder === '' ? ['', '\u{10ffff}'] : [folder + '/', folder + '0'];
}
