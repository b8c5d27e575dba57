/**
 * Digests for anti-entropy (anti_entropy.ts): a hash per bucket (a bucket is
 * a fixed slice of the path space) of the live records only, so a node that
 * purged a tombstone and one that still holds it compare equal; and the
 * records of one bucket, tombstones included, so a live record meeting a
 * tombstone is ranked and the winner kept.
 *
 * The index is read a page at a time in path order, yielding to the event
 * loop between pages: a digest of 100,000 records would otherwise hold every
 * other request for as long as it takes. Writes between pages may or may
 * not be seen; a digest is a hint that the next pass corrects.
 */
import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { bucketOf } from '../protocol/digest_buckets.ts';
import { type Entry, type IndexDb, publicRecord } from './index_db.ts';
import type { FileRecord } from '../protocol/record.ts';

const PAGE = 1000;

/** Every entry of the index, tombstones included, in path order, a page at a time; yields to the event loop between pages. */
export async function* entryPages(index: Pick<IndexDb, 'page'>, size = PAGE): AsyncGenerator<Entry[]> {
  for (let after = ''; ;) {
    const page = index.page(after, size);
    if (page.length > 0) yield page;
    if (page.length < size) return;
    after = page[page.length - 1].path;
    await setImmediate();
  }
}

/** Bucket → SHA-256 (hex) of its live records' paths and versions; empty buckets left out. */
export async function digestOf(pages: AsyncIterable<Entry[]> | Iterable<Entry[]>): Promise<Record<string, string>> {
  const hashes = new Map<number, ReturnType<typeof createHash>>();
  for await (const page of pages) {
    for (const e of page) {
      if (e.deleted) continue;
      const b = bucketOf(e.path);
      let h = hashes.get(b);
      if (!h) hashes.set(b, (h = createHash('sha256')));
      h.update(`${e.path}\u0000${e.version}\n`);
    }
  }
  return Object.fromEntries([...hashes].map(([b, h]) => [String(b), h.digest('hex')]));
}

/** The records of one bucket, tombstones included. */
export async function recordsOfBucket(pages: AsyncIterable<Entry[]> | Iterable<Entry[]>, bucket: number): Promise<FileRecord[]> {
  const out: FileRecord[] = [];
  for await (const page of pages) for (const e of page) if (bucketOf(e.path) === bucket) out.push(publicRecord(e));
  return out;
}
