/**
 * Remote paths and the URLs that name them. Pure: no I/O.
 *
 * Remote paths are relative and `/`-separated (DESIGN.md section 2). Each
 * segment is percent-encoded on its own, so a name may hold `?`, `#`, `%` or
 * spaces. `.` and `..` segments are refused here, before any URL is built,
 * because URL parsers would silently drop them and aim the request elsewhere.
 *
 * @example
 * fileTarget('photos/a b.jpg', { version: 'v1' })
 * // '/files/photos/a%20b.jpg?version=v1'
 */

/**
 * Turns a path as a person types it into the store's form: no leading or
 * trailing `/`. `''` (the root) is allowed only with `{ root: true }`.
 */
export function normalizeRemote(input: string, options: { root?: boolean } = {}): string {
  const path = input.replace(/^\/+/, '').replace(/\/+$/, '');
  if (path === '') {
    if (options.root) return '';
    throw new TypeError(`Cannot use remote path "${input}": it names the root, not a file or folder`);
  }
  for (const segment of path.split('/')) {
    if (segment === '') throw new TypeError(`Cannot use remote path "${input}": it has an empty segment`);
    if (segment === '.' || segment === '..') {
      throw new TypeError(`Cannot use remote path "${input}": "${segment}" segments are not allowed`);
    }
  }
  return path;
}

/** Percent-encodes each segment of a path and joins them with `/`. */
export function encodeRemote(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Checks a node's base URL and drops a trailing `/`. */
export function normalizeNodeUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new TypeError(`Cannot use node URL "${input}": not a URL (expected e.g. http://127.0.0.1:7001)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Cannot use node URL "${input}": only http and https are supported`);
  }
  if (url.search || url.hash) throw new TypeError(`Cannot use node URL "${input}": it must not have a query or fragment`);
  return url.href.replace(/\/+$/, '');
}

/** Splits a comma list of node URLs (`--nodes`, `NUVEM_NODES`). */
export function parseNodeList(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter((s) => s !== '').map(normalizeNodeUrl);
}

export type Query = Record<string, string | number | boolean | undefined>;

/** Adds a query string; `undefined` and `false` values are left out. */
export function withQuery(target: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== false) params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? target : `${target}?${text}`;
}

/** `/files/PATH` for a file (PUT, GET, HEAD, DELETE, MOVE, MKCOL); also the MOVE `Destination`. */
export function fileTarget(path: string, query?: Query): string {
  return withQuery(`/files/${encodeRemote(path)}`, query);
}

/** `/files/FOLDER/` (or `/files/` for the root) for a listing. */
export function folderTarget(folder: string, query?: Query): string {
  const suffix = folder === '' ? '' : `${encodeRemote(folder)}/`;
  return withQuery(`/files/${suffix}`, query);
}

/** `/revisions/PATH`. */
export function revisionsTarget(path: string): string {
  return `/revisions/${encodeRemote(path)}`;
}

/** A node's base URL (from `normalizeNodeUrl`) joined with a target. */
export function joinUrl(base: string, target: string): string {
  return base + target;
}

/** The last segment of a `/`-separated path (local or remote). */
export function baseName(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}

/**
 * Where `put LOCAL [REMOTE]` stores a file: REMOTE as given, or the local
 * file's name; a REMOTE ending in `/` (or just `/`) means "into that folder".
 */
export function remoteForPut(local: string, remote?: string): string {
  const name = baseName(local);
  if (remote === undefined || remote === '') return normalizeRemote(name);
  if (remote.endsWith('/')) {
    const folder = normalizeRemote(remote, { root: true });
    return normalizeRemote(folder === '' ? name : `${folder}/${name}`);
  }
  return normalizeRemote(remote);
}

/** A listed path shown relative to the listed folder (`''` is the root). */
export function relativeTo(path: string, folder: string): string {
  if (folder !== '' && path.startsWith(folder + '/')) return path.slice(folder.length + 1);
  return path;
}
