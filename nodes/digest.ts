/**
 * Digests for anti-entropy (anti_entropy.ts): a hash per bucket (a bucket is
 * a fixed slice of the path space) of the live records only, so a node that
 * purged a tombstone and one that still holds it compare equal; and the
 * records of one bucket, tombstones included, so a live record meeting a
 * tombstone is ranked and the winner kept.
 */
import { createHash } from 'node:crypto';
import { bucketOf } from '../protocol/digest_buckets.ts';
import { type Entry, publicRecord } from './index_db.ts';
import type { FileRecord } from '../protocol/record.ts';

/** Bucket → SHA-256 (hex) of its live records' paths and versions; empty buckets left out. */
export function digestOf(entries: Iterable<Entry>): Record<string, string> {
  const hashes = new Map<number, ReturnType<typeof createHash>>();
  for (const e of entries) {
    if (e.deleted) continue;
    const b = bucketOf(e.path);
    let h = hashes.get(b);
    if (!h) hashes.set(b, (h = createHash('sha256')));
    h.update(`${e.path}\u0000${e.version}\n`);
  }
  return Object.fromEntries([...hashes].map(([b, h]) => [String(b), h.digest('hex')]));
}

/** The records of one bucket, tombstones included. */
export function recordsOfBucket(entries: Iterable<Entry>, bucket: number): FileRecord[] {
  const out: FileRecord[] = [];
  for (const e of entries) if (bucketOf(e.path) === bucket) out.push(publicRecord(e));
  return out;
}
