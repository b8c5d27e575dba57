/** Finds the file path a request names, from the raw target where the runtime gives it. */
import type { Context } from 'hono';
import { invalidPath, NuvemError, printable } from '../protocol/errors.ts';
import { hostAllowed } from '../protocol/origins.ts';
import type { Deps } from './deps.ts';

/** A `.` or `..` segment, plain or percent-encoded, anywhere in a target (may also match in the query; then the exact check runs). */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?#]|$)/i;

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * The origin-form part (`/path?query`) of a request target: HTTP/1.1 lets a
 * client send the absolute form (`PUT http://host/files/a`), which must get
 * the same checks.
 */
export function originForm(target: string | undefined): string | undefined {
  if (target === undefined || target.startsWith('/')) return target;
  const m = ABSOLUTE_FORM.exec(target);
  if (!m) return target;
  const rest = target.slice(m[0].length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}

/**
 * Refuses a raw request target with `.` or `..` segments (also spelled `%2e`).
 * URL parsing removes them before routing, so `/files/../b` would otherwise be
 * routed as `/b` (and `/files/../status` served as `/status`).
 */
export function checkRawTarget(target: string | undefined): void {
  const raw = originForm(target);
  if (raw === undefined || !raw.startsWith('/')) return;
  // Most targets cannot hold such a segment: one scan instead of a split per request.
  if (!DOT_SEGMENT.test(raw)) return;
  const path = raw.replace(/[?#].*$/, '');
  for (const segment of path.split('/')) {
    const s = segment.replace(/%2e/gi, '.');
    if (s === '.' || s === '..') throw invalidPath(path, `"${s}" segments are not allowed`);
  }
}

/** Refuses a `Host` that names neither loopback nor one of `names` (DNS rebinding; protocol/origins.ts). */
export function checkHost(host: string | undefined, names: readonly string[]): void {
  if (hostAllowed(host, names)) return;
  throw new NuvemError(
    'forbidden',
    `Host "${printable(host ?? '')}" is not a name of this node: without a token, a node answers only to loopback names and its --public-url host`,
  );
}

/**
 * The still-encoded part of the target after `prefix` (e.g. '/files/'). URL
 * parsers drop `.` and `..` segments silently, so the raw target, when known,
 * is what counts: `/files/./a` must be refused, never read as `a`.
 */
export function encodedRest(c: Context, deps: Deps, prefix: string): string {
  const raw = originForm(deps.rawTarget?.(c));
  const target = raw !== undefined && raw.startsWith('/') ? raw : c.req.path;
  const path = target.replace(/[?#].*$/, '');
  if (!path.startsWith(prefix)) {
    throw invalidPath(path, `expected a path under ${prefix}`);
  }
  return path.slice(prefix.length);
}
