/**
 * Parsing of request headers and parameters (pure): conditions, ranges,
 * destinations (write concern and Content-Digest are in protocol/). Each refuses bad input with a
 * NuvemError that says what was wrong.
 */
import { NuvemError } from '../protocol/errors.ts';
import type { Conditions } from '../protocol/record.ts';

const bad = (message: string) => new NuvemError('bad_request', message);

/** `"v1", "v2"` or `*` (weak validators are compared as strong: versions are exact). */
export function parseEtagList(header: string | undefined, name: string): string[] | '*' | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return '*';
  const tags = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const out: string[] = [];
  for (const tag of tags) {
    const m = /^(?:W\/)?"([^"]*)"$/.exec(tag);
    if (!m) throw bad(`Cannot parse ${name} "${value.slice(0, 100)}": expected "*" or quoted versions`);
    out.push(m[1]);
  }
  if (out.length === 0) throw bad(`${name} is empty`);
  return out;
}

export function parseConditions(get: (name: string) => string | undefined): Conditions {
  return {
    ifMatch: parseEtagList(get('if-match'), 'If-Match'),
    ifNoneMatch: parseEtagList(get('if-none-match'), 'If-None-Match'),
  };
}

export type ByteRange = { start: number; end: number };

/**
 * A single `bytes=` range against a size. Returns undefined when the header is
 * absent or not one we serve partially (then the whole body is sent, as RFC 9110
 * allows); throws 416 when it cannot be satisfied.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const unsatisfiable = () =>
    new NuvemError('range_not_satisfiable', `Range "${header}" is outside the ${size} bytes of this file`, {
      contentRange: `bytes */${size}`,
    });
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw unsatisfiable();
  return { start, end };
}

/** The encoded path inside `/files/` named by a Destination header (absolute URL or path). */
export function parseDestination(header: string | undefined): string {
  if (header === undefined || header === '') throw bad('MOVE needs a Destination header: /files/{to}');
  let target = header.trim();
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(target);
  if (abs) target = abs[1] ?? '/';
  target = target.replace(/[?#].*$/, '');
  if (!target.startsWith('/files/')) throw bad(`Cannot move to "${header.slice(0, 100)}": the destination must be under /files/`);
  return target.slice('/files/'.length);
}

export function parseOverwrite(header: string | undefined): boolean {
  if (header === undefined) return true;
  const v = header.trim().toUpperCase();
  if (v === 'T') return true;
  if (v === 'F') return false;
  throw bad(`Cannot parse Overwrite "${header.slice(0, 20)}": expected T or F`);
}

/** A number parameter that is clamped, never refused (DESIGN.md: listing `limit`). */
export function clampInt(value: string | undefined, options: { min: number; max: number; fallback: number }): number {
  const n = Number.parseInt(value ?? '', 10);
  if (!Number.isFinite(n)) return options.fallback;
  return Math.min(options.max, Math.max(options.min, n));
}

const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

export function parseContentType(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  if (!CONTENT_TYPE.test(header)) throw bad('Content-Type must be printable ASCII of at most 255 characters');
  return header;
}

export function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1' || value === '';
}
