/**
 * A file and a folder with one name (DESIGN.md section 2; README "File and
 * folder clashes"). Two people on two nodes can make `a` a file on one and a
 * folder (or `a/b`) on the other; each node refuses that locally (409), but
 * when the two changes meet on a replica the tree cannot hold both. Pure.
 *
 * The rule, the same on every node: two live records clash when one is a file
 * at a path and the other is at a path under it (or a folder at that very
 * path, which the ordinary rank order settles). Of two clashing records the
 * higher-ranked (conflict.ts: the newer version) keeps its name; the other
 * is replaced by a *clash tombstone*: its own path, origin and seq, deleted,
 * `prev` = its version and `version` = the winner's. A clash tombstone ranks
 * above the record it removed and below any later change of its path, so
 * once any node has removed a record, anti-entropy removes it everywhere,
 * whatever order the changes arrived in. The removed version is kept as a
 * revision (a file's bytes) and announced as a `conflict` event.
 *
 * @example
 * const { killers, victims } = splitClash(incoming, clashingWith(incoming, index));
 */
import { wins } from './conflict.ts';
import { ancestorsOf, subtreeRange } from '../protocol/paths.ts';
import type { Change, FileRecord } from '../protocol/record.ts';

/** What the clash check reads of the index: a path's record, and the live records under a folder. */
export interface ClashLookup<T extends FileRecord> {
  get(path: string): T | undefined;
  /** Live records strictly under `folder`, at most `limit`, from after `after`. */
  range(lo: string, hi: string, limit: number): T[];
}

const PAGE = 1000;

/** The live records `record` (live) clashes with: files at its ancestors, and for a file everything under it. */
export function clashingWith<T extends FileRecord>(record: FileRecord, index: ClashLookup<T>): T[] {
  if (record.deleted) return [];
  const out: T[] = [];
  for (const a of ancestorsOf(record.path)) {
    const e = index.get(a);
    if (e && !e.deleted && e.type === 'file') out.push(e);
  }
  if (record.type === 'file') {
    const [lo, hi] = subtreeRange(record.path);
    let after = lo;
    for (;;) {
      const page = index.range(after, hi, PAGE);
      out.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1].path;
    }
  }
  return out;
}

/** Could `record` clash with anything here? (A cheap check, before taking the whole tree's lock.) */
export function mayClash<T extends FileRecord>(record: FileRecord, index: ClashLookup<T> & { firstLive(lo: string, hi: string): T | undefined }): boolean {
  if (record.deleted) return false;
  for (const a of ancestorsOf(record.path)) {
    const e = index.get(a);
    if (e && !e.deleted && e.type === 'file') return true;
  }
  if (record.type !== 'file') return false;
  const [lo, hi] = subtreeRange(record.path);
  return index.firstLive(lo, hi) !== undefined;
}

/** Splits the records `record` clashes with into those that outrank it (killers) and those it outranks (victims). */
export function splitClash<T extends FileRecord>(record: FileRecord, clashing: T[]): { killers: T[]; victims: T[] } {
  const killers: T[] = [];
  const victims: T[] = [];
  for (const c of clashing) (wins(c, record) ? killers : victims).push(c);
  return { killers, victims };
}

/** The highest-ranked of `records` (undefined when empty). */
export function highest<T extends FileRecord>(records: T[]): T | undefined {
  let top: T | undefined;
  for (const r of records) if (!top || wins(r, top)) top = r;
  return top;
}

/** The clash tombstone that replaces `loser` because `winner` keeps the name (a `delete` change of `loser`'s path). */
export function clashTombstone(loser: FileRecord, winner: FileRecord): Change {
  const { path, type, modified, origin, seq } = loser;
  return {
    path, type, modified, origin, seq,
    version: winner.version,
    size: 0,
    sha256: '',
    contentType: '',
    deleted: true,
    prev: loser.version,
    op: 'delete',
  };
}
