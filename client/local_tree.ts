/**
 * The local side of `nuvem sync`: the synced folder scanned into the
 * planner's `local` map (`sync_types.ts`), and the hashes the planner asks
 * for (`needsHash`).
 *
 * - `lstat` only: a symbolic link is never followed and never synced (nor
 *   are sockets, FIFOs or devices); `onSkip` says so once per path.
 * - Ignore rules apply while walking: an ignored folder is not descended
 *   into; `.nuvem-sync/` (the mirror's own state) is always ignored.
 * - A name the store would refuse or store under another spelling
 *   (`protocol/paths.ts`: control characters, backslash, `.nuvem`, a name
 *   not in Unicode NFC, too long) is skipped with `onSkip`: uploaded, it
 *   would come back under another name.
 * - Folders are entries of their own (size and mtime 0: the planner looks
 *   only at their kind).
 *
 * @example
 * const local = await scanTree(dir, { ignore });
 * await hashInto(dir, local, needsHash(local, base));
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePath } from '../protocol/paths.ts';
import type { IgnorePredicate } from './ignore_rules.ts';
import type { LocalEntry } from './sync_types.ts';

export interface ScanOptions {
  ignore: IgnorePredicate;
  /** Told about each path left out for a reason other than the ignore rules. */
  onSkip?: (path: string, reason: string) => void;
}

/** Whether `path` is a name the store keeps as is (valid, NFC). */
export function storable(path: string): string | undefined {
  try {
    return parsePath(path) === path ? undefined : 'its name is not in Unicode NFC form';
  } catch (err) {
    return (err as Error).message;
  }
}

/** The entry of one lstat result, or undefined for what is not synced (links, sockets…). */
function entryOf(st: Stats): LocalEntry | undefined {
  if (st.isDirectory()) return { kind: 'folder', size: 0, mtimeMs: 0 };
  if (st.isFile()) return { kind: 'file', size: st.size, mtimeMs: st.mtimeMs };
  return undefined;
}

/**
 * The entry at `path` now (relative to `root`), or undefined when it is
 * absent, ignored, or not a file or folder.
 */
export async function statPath(root: string, path: string, options: ScanOptions): Promise<LocalEntry | undefined> {
  let st: Stats;
  try {
    st = await lstat(join(root, path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  const entry = entryOf(st);
  if (!entry) {
    options.onSkip?.(path, 'it is a symbolic link or special file');
    return undefined;
  }
  if (options.ignore(path, entry.kind === 'folder')) return undefined;
  const bad = storable(path);
  if (bad) {
    options.onSkip?.(path, bad);
    return undefined;
  }
  return entry;
}

/**
 * Every entry under `under` (relative to `root`; `''` for all of it), not
 * including `under` itself, keyed by path relative to `root`.
 */
export async function scanTree(root: string, options: ScanOptions & { under?: string }): Promise<Map<string, LocalEntry>> {
  const out = new Map<string, LocalEntry>();
  const stack = [options.under ?? ''];
  while (stack.length > 0) {
    const folder = stack.pop()!;
    let names: string[];
    try {
      names = (await readdir(join(root, folder))).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue; // gone meanwhile
      throw err;
    }
    const paths = names.map((name) => (folder === '' ? name : `${folder}/${name}`));
    for (let i = 0; i < paths.length; i += 64) {
      const slice = paths.slice(i, i + 64);
      const entries = await Promise.all(slice.map((p) => statPath(root, p, options)));
      slice.forEach((path, j) => {
        const entry = entries[j];
        if (!entry) return;
        out.set(path, entry);
        if (entry.kind === 'folder') stack.push(path);
      });
    }
  }
  return out;
}

const WHOLE_BELOW = 256 * 1024;

/** SHA-256 (hex) of a file, streamed (small files read whole); undefined when it vanished. */
const HASH_CHUNK = 4 * 1024 * 1024;

export async function hashLocalFile(file: string, size = Infinity): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    if (size < WHOLE_BELOW) hash.update(await readFile(file));
    else {
      // One buffer for the whole file, filled by plain reads: a third of the time of a read stream's fresh chunks.
      const handle = await open(file, 'r');
      try {
        const buffer = Buffer.allocUnsafe(HASH_CHUNK);
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, HASH_CHUNK, null);
          if (bytesRead === 0) break;
          hash.update(buffer.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return hash.digest('hex');
}

/**
 * Hashes the files `paths` of `local` (a few at a time) and stores each
 * sha256 in its entry, with the size and mtime seen after hashing; a file
 * that changed while being hashed is hashed again, one that vanished is
 * dropped from `local`.
 */
export async function hashInto(root: string, local: Map<string, LocalEntry>, paths: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++];
      for (let attempt = 0; ; attempt++) {
        const file = join(root, path);
        const before = await lstat(file).catch(() => undefined);
        const sha256 = before?.isFile() ? await hashLocalFile(file, before.size) : undefined;
        const after = sha256 === undefined ? undefined : await lstat(file).catch(() => undefined);
        if (!before?.isFile() || !after || sha256 === undefined) {
          local.delete(path);
          break;
        }
        if ((after.size === before.size && after.mtimeMs === before.mtimeMs) || attempt >= 3) {
          local.set(path, { kind: 'file', size: after.size, mtimeMs: after.mtimeMs, sha256 });
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, paths.length) }, worker));
}

/** Gives a freshly scanned file the hash `known` had, when its size and mtime are the same. */
export function keepHash(entry: LocalEntry, known: LocalEntry | undefined): void {
  if (entry.kind === 'file' && known?.kind === 'file' && known.sha256 !== undefined && known.size === entry.size && known.mtimeMs === entry.mtimeMs) {
    entry.sha256 = known.sha256;
  }
}

/**
 * Brings the entries of `paths` in `local` up to date, and those of their
 * ancestors: a path that is a folder is scanned with everything in it, one
 * that is no longer a folder loses what was under it. Known hashes are kept
 * for files whose size and mtime did not move.
 */
export async function rescanPaths(root: string, options: ScanOptions & { local: Map<string, LocalEntry>; paths: readonly string[] }): Promise<void> {
  const { local, paths } = options;
  const merge = (path: string, entry: LocalEntry | undefined) => {
    if (!entry) return void local.delete(path);
    keepHash(entry, local.get(path));
    local.set(path, entry);
  };
  const direct = new Set(paths);
  const all = new Set<string>();
  for (const path of paths) {
    all.add(path);
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) all.add(path.slice(0, i));
  }
  for (const path of [...all].sort()) {
    const entry = await statPath(root, path, options);
    const known = local.get(path);
    merge(path, entry);
    const rescan = entry?.kind === 'folder' && direct.has(path);
    if (!rescan && (entry?.kind === 'folder' || known?.kind !== 'folder')) continue;
    const under = rescan ? await scanTree(root, { ...options, under: path }) : new Map<string, LocalEntry>();
    for (const p of [...local.keys()]) if (p.startsWith(`${path}/`) && !under.has(p)) local.delete(p);
    for (const [p, e] of under) merge(p, e);
  }
}
