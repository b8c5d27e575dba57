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
// deno-lint-ignore no-control-regex -- the range starts at NUL on purpose: any UTF-16 unit above 0x7f
const NOT_ASCII = /[^\u0000-\u007f]/;

/** Validates an already-decoded path and returns its NFC form. */
export function parsePath(raw: string): string {
  if (raw === '') throw invalidPath(raw, 'the path is empty');
  if (raw.startsWith('/')) throw invalidPath(raw, 'a path must not start with "/"');
  if (raw.includes('\\')) throw invalidPath(raw, 'backslash is not allowed');
  // deno-lint-ignore no-control-regex -- control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalidPath(raw, 'control characters are not allowed');
  // ASCII (most paths) is its own NFC form, one byte per character: no normalisation to run.
  const ascii = !NOT_ASCII.test(raw);
  if (!ascii && /[\ud800-\udfff]/.test(raw) && !raw.isWellFormed?.()) throw invalidPath(raw, 'not valid UTF-8');
  const path = ascii ? raw : raw.normalize('NFC');
  if (utf8Length(path, ascii) > MAX_PATH_BYTES) {
    throw invalidPath(raw, `longer than ${MAX_PATH_BYTES} bytes`);
  }
  for (const segment of path.split('/')) {
    if (segment === '') throw invalidPath(raw, 'empty segment');
    if (segment === '.' || segment === '..') throw invalidPath(raw, `"${segment}" segments are not allowed`);
    if (utf8Length(segment, ascii) > MAX_SEGMENT_BYTES) {
      throw invalidPath(raw, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (RESERVED.has(segment.toLowerCase())) throw invalidPath(raw, `"${segment}" is reserved by the store`);
  }
  return path;
}

/** Bytes of a well-formed string in UTF-8, counted without encoding it. */
export function utf8Length(s: string, ascii = false): number {
  if (ascii) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else n += 3;
  }
  return n;
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

/**
 * The half-open key range [lo, hi) holding every path strictly inside `folder`,
 * in byte order ('/' + 1 is '0').
 */
export function subtreeRange(folder: string): [string, string] {
  return folder === '' ? ['', '\u{10ffff}'] : [folder + '/', folder + '0'];
}
