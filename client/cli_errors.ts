/**
 * How the CLI words the errors a command can end with. Pure.
 */
import { DigestMismatchError, NuvemBrokerError, NuvemHttpError, NuvemNetworkError, NuvemTimeoutError } from './errors.ts';
import { NoNodeAvailableError } from './selection.ts';

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the disk',
  EROFS: 'read-only file system',
};

/** A line for a person, for any error a command can end with. */
export function describeError(err: unknown): string {
  if (
    err instanceof NuvemHttpError || err instanceof NuvemNetworkError || err instanceof DigestMismatchError ||
    err instanceof NoNodeAvailableError || err instanceof NuvemTimeoutError || err instanceof NuvemBrokerError
  ) return err.message;
  const e = err as { code?: string; syscall?: string; path?: string; message?: string };
  if (e && typeof e.code === 'string' && e.path !== undefined && FS_REASONS[e.code]) {
    return `Cannot ${e.syscall ?? 'use'} "${e.path}": ${FS_REASONS[e.code]}`;
  }
  return e?.message ?? String(err);
}

export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof NuvemHttpError) return { error: err.code, message: err.message, status: err.status };
  if (err instanceof NuvemNetworkError) return { error: 'network', message: err.message, node: err.node };
  if (err instanceof NoNodeAvailableError) return { error: 'no_node', message: err.message, excluded: err.excluded };
  if (err instanceof NuvemBrokerError) return { error: 'broker', message: err.message, broker: err.broker };
  return { error: 'failed', message: describeError(err) };
}

const hints = new WeakMap<object, string>();

/** Attaches advice for a person, printed after the error's own message. */
export function withHint<E extends object>(err: E, hint: string): E {
  hints.set(err, hint);
  return err;
}

export function hintFor(err: unknown): string | undefined {
  if (err instanceof NoNodeAvailableError) return '"nuvem status" shows what this client knows of every node';
  if (err instanceof NuvemBrokerError) {
    return 'is the cluster running ("nuvem up" starts one)? --broker URL (NUVEM_BROKER) names another broker; --nodes URL[,URL…] (NUVEM_NODES) talks to nodes without one';
  }
  return err !== null && typeof err === 'object' ? hints.get(err) : undefined;
}
