/** Finds the file path a request names, from the raw target where the runtime gives it. */
import type { Context } from 'hono';
import { invalidPath } from '../nodes/errors.ts';
import type { Deps } from './deps.ts';

/**
 * The still-encoded part of the target after `prefix` (e.g. '/files/'). URL
 * parsers drop `.` and `..` segments silently, so the raw target, when known,
 * is what counts: `/files/./a` must be refused, never read as `a`.
 */
export function encodedRest(c: Context, deps: Deps, prefix: string): string {
  const raw = deps.rawTarget?.(c);
  const target = raw !== undefined && raw.startsWith('/') ? raw : c.req.path;
  const path = target.replace(/[?#].*$/, '');
  if (!path.startsWith(prefix)) {
    throw invalidPath(path, `expected a path under ${prefix}`);
  }
  return path.slice(prefix.length);
}
