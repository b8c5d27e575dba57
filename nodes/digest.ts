/**
 * What a node serves to its peers' anti-entropy (anti_entropy.ts): a hash
 * per bucket (a bucket is a fixed slice of the path space) of the live
 * records only, so a node that purged a tombstone and one that still holds
 * it compare equal (kept by commits: live_digest.ts); and the records of one
 * bucket, tombstones included, so a live record meeting a tombstone is
 * ranked and the winner kept.
 *
 * The index is read a page at a time in path order, yielding to the event
 * loop between pages: a scan of 100,000 records would otherwise hold every
 * other request for as long as it takes. Writes between pages may or may
 * not be seen; the next pass corrects.
 */
import { setImmediate } from 'node:timers/promises';
import { bucketOf } from '../protocol/digest_buckets.ts';
import { type Entry, publicRecord } from './index_db.ts';
import type { FileRecord } from '../protocol/record.ts';

const PAGE = 1000;

/** Every entry of the index, tombstones included, in path order, a page at a time; yields to the event loop between pages. */
export async function* entryPages<T extends { path: string }>(index: { page(after: string, limit: number): T[] }, size = PAGE): AsyncGenerator<T[]> {
  for (let after = ''; ;) {
    const page = index.page(after, size);
    if (page.length > 0) yield page;
    if (page.length < size) return;
    after = page[page.length - 1].path;
    await setImmediate();
  }
}

/** Every bucket's entries, tombstones included, from one scan of the index. */
type Scan = Map<number, Entry[]>;

/**
 * The digest and bucket records a node serves to its peers. A peer's pass
 * asks for the digest, then for the records of every bucket that differs.
 * The digest is the one commits keep up to date (live_digest.ts), so it
 * reads nothing. It comes with a scan id: the first bucket request naming
 * it scans the index once, and the pass's other bucket requests are
 * answered from that scan (kept `ttlMs`). Scanning the whole index for each
 * bucket (up to 64 scans a pass, each allocating every entry) took a sixth
 * of a catching-up node's main thread while its peers repaired from it. A
 * request naming no scan, or one gone, is answered from a fresh scan.
 * Records may be newer than the digest the peer compared: a digest is a
 * hint, the records are what it ranks.
 */
export class DigestCache {
  readonly #pages: () => AsyncIterable<Entry[]>;
  readonly #digest: () => Promise<Record<string, string>>;
  readonly #ttlMs: number;
  readonly #keep: number;
  readonly #now: () => number;
  /** The latest passes' scans (made at their first bucket request), oldest first: two peers' passes may overlap. */
  #scans: { id: string; at: number; result?: Promise<Scan> }[] = [];
  #count = 0;

  constructor(options: {
    pages: () => AsyncIterable<Entry[]>;
    /** The live digest (LiveDigest.digest). */
    digest: () => Promise<Record<string, string>>;
    ttlMs?: number;
    keep?: number;
    now?: () => number;
  }) {
    this.#pages = options.pages;
    this.#digest = options.digest;
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#keep = options.keep ?? 2;
    this.#now = options.now ?? Date.now;
  }

  /** The digest, and the id of the scan its bucket requests share. */
  async digest(): Promise<{ buckets: Record<string, string>; scan: string }> {
    const buckets = await this.#digest();
    const id = `${this.#now().toString(36)}-${++this.#count}`;
    this.#scans = [...this.#fresh(), { id, at: this.#now() }].slice(-this.#keep);
    return { buckets, scan: id };
  }

  /** A bucket's records, tombstones included: from scan `scan` while it is kept, else from a fresh scan. */
  async records(bucket: number, scan?: string): Promise<FileRecord[]> {
    const kept = scan === undefined ? undefined : this.#fresh().find((s) => s.id === scan);
    let entries: Entry[] | undefined;
    if (kept) {
      if (!kept.result) {
        const result = (kept.result = scanBuckets(this.#pages()));
        result.catch(() => kept.result === result && (kept.result = undefined)); // a failed scan is made again by the next request
      }
      entries = (await kept.result).get(bucket);
    } else entries = await bucketEntries(this.#pages(), bucket);
    return (entries ?? []).map(publicRecord);
  }

  #fresh() {
    const now = this.#now();
    return (this.#scans = this.#scans.filter((s) => now - s.at <= this.#ttlMs));
  }
}

/** Every bucket's entries, in one pass over `pages`. */
async function scanBuckets(pages: AsyncIterable<Entry[]>): Promise<Scan> {
  const buckets: Scan = new Map();
  for await (const page of pages) {
    for (const e of page) {
      const b = bucketOf(e.path);
      let list = buckets.get(b);
      if (!list) buckets.set(b, (list = []));
      list.push(e);
    }
  }
  return buckets;
}

/** The entries of one bucket, tombstones included, in one pass over `pages`. */
async function bucketEntries(pages: AsyncIterable<Entry[]>, bucket: number): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const page of pages) for (const e of page) if (bucketOf(e.path) === bucket) out.push(e);
  return out;
}
