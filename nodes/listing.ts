/**
 * Folder listings over the index, one page at a time. A non-recursive listing
 * shows each subfolder once, skipping over its subtree with one indexed lookup
 * ("skip scan"), so a page costs O(limit) lookups whatever the folder holds.
 */
import { NuvemError } from './errors.ts';
import { publicRecord, type Entry, type IndexDb } from './index_db.ts';
import { subtreeRange } from './paths.ts';
import type { FileRecord } from './record.ts';

export type ListEntry = (FileRecord & { type: 'file' | 'folder' }) | { path: string; type: 'folder' };

export interface Page {
  entries: ListEntry[];
  nextCursor: string;
}

interface Cursor {
  /** The last path returned. */
  a: string;
  /** Whether it was a folder (its subtree is skipped). */
  f?: 1;
}

export function listFolder(
  index: IndexDb,
  folder: string,
  options: { recursive: boolean; limit: number; cursor?: string },
): Page {
  const [lo, hi] = subtreeRange(folder);
  const cursor = options.cursor ? decodeCursor(options.cursor) : undefined;
  if (options.recursive) {
    const rows = index.range(cursor ? maxString(cursor.a, lo) : lo, hi, options.limit + 1);
    const entries = rows.slice(0, options.limit).map((e) => publicRecord(e));
    const more = rows.length > options.limit;
    return { entries, nextCursor: more ? encodeCursor({ a: entries[entries.length - 1].path }) : '' };
  }
  const entries: ListEntry[] = [];
  const skipped = new Set<string>(cursor?.f ? [cursor.a] : []);
  let from = cursor ? nextAfter(cursor, lo) : lo;
  let last: Cursor | undefined;
  while (true) {
    const e = index.firstLive(from, hi);
    if (!e) return { entries, nextCursor: '' };
    const slash = e.path.indexOf('/', lo.length);
    const name = slash < 0 ? e.path : e.path.slice(0, slash);
    if (slash >= 0 && skipped.has(name)) {
      from = name + '0';
      continue;
    }
    if (entries.length === options.limit) return { entries, nextCursor: encodeCursor(last!) };
    if (slash < 0 && e.type === 'file') {
      entries.push(publicRecord(e));
      last = { a: e.path };
      from = e.path + '\u0000';
    } else {
      entries.push(folderEntry(index, name, slash < 0 ? e : undefined));
      skipped.add(name);
      last = { a: name, f: 1 };
      from = slash < 0 ? name + '\u0000' : name + '0';
    }
  }
}

function folderEntry(index: IndexDb, path: string, known: Entry | undefined): ListEntry {
  const record = known ?? index.get(path);
  return record && !record.deleted && record.type === 'folder' ? publicRecord(record) : { path, type: 'folder' };
}

function nextAfter(cursor: Cursor, lo: string): string {
  return maxString(cursor.a + '\u0000', lo);
}

function maxString(a: string, b: string): string {
  return a > b ? a : b;
}

function encodeCursor(c: Cursor): string {
  return btoa(unescape(encodeURIComponent(JSON.stringify(c)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeCursor(s: string): Cursor {
  try {
    const json = decodeURIComponent(escape(atob(s.replace(/-/g, '+').replace(/_/g, '/'))));
    const c = JSON.parse(json);
    if (typeof c?.a === 'string') return c;
  } catch {
    // fall through
  }
  throw new NuvemError('bad_request', `Cannot use cursor "${s.slice(0, 64)}": it is not one this node gave out`);
}
