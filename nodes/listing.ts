/**
 * Folder listings over the index, one page at a time. A non-recursive listing
 * shows each subfolder once, skipping over its subtree with one indexed lookup
 * ("skip scan"), so a page costs O(limit) lookups whatever the folder holds.
 */
import { NuvemError } from '../protocol/errors.ts';
import { publicRecord, type Entry, type IndexDb } from './index_db.ts';
import { subtreeRange } from '../protocol/paths.ts';
import type { ListEntry, Page } from '../functions/deps.ts';

interface Cursor {
  /** The index key the page ended at: the next page starts after it. */
  a: string;
  /**
   * When the page ended with a folder: its path, whose subtree is skipped. An
   * explicit folder ends the page at its own key; an implicit one at the key of
   * the child that revealed it, which sorts after siblings such as `a-z` or
   * `a.txt` (so resuming after `a` itself would list those again, forever).
   */
  f?: string;
}

/** Does `path` hold anything live, so that it is a folder (explicit or implicit)? */
export function hasChildren(index: IndexDb, path: string): boolean {
  const [lo, hi] = subtreeRange(path);
  return index.firstLive(lo, hi) !== undefined;
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
  const skipped = new Set<string>(cursor?.f ? [cursor.f] : []);
  let from = cursor ? nextAfter(cursor, lo) : lo;
  let last: Cursor | undefined;
  while (true) {
    const e = index.firstLive(from, hi);
    if (!e) return { entries, nextCursor: '' };
    const slash = e.path.indexOf('/', lo.length);
    const name = slash < 0 ? e.path : e.path.slice(0, slash);
    if (slash >= 0 && (skipped.has(name) || isFolder(index.get(name)))) {
      // Listed already: on this page, or (an explicit folder is listed at its
      // own key, before siblings like `name.txt` and its children) on an earlier one.
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
      last = { a: e.path, f: name };
      from = slash < 0 ? name + '\u0000' : name + '0';
    }
  }
}

function folderEntry(index: IndexDb, path: string, known: Entry | undefined): ListEntry {
  const record = known ?? index.get(path);
  return isFolder(record) ? publicRecord(record!) : { path, type: 'folder' };
}

/** A live, explicit folder record. */
function isFolder(e: Entry | undefined): boolean {
  return e !== undefined && !e.deleted && e.type === 'folder';
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
    if (typeof c?.a === 'string' && (c.f === undefined || typeof c.f === 'string')) return c;
  } catch {
    // fall through
  }
  throw new NuvemError('bad_request', `Cannot use cursor "${s.slice(0, 64)}": it is not one this node gave out`);
}
