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

/** One scan of the index: the digest and every bucket's entries (records made when a bucket is asked for). */
interface Scan {
  digest: Record<string, string>;
  buckets: Map<number, Entry[]>;
}

/**
 * The digest and bucket records a node serves to its peers. A peer's pass
 * asks for the digest, then for the records of every bucket that differs.
 * Each digest scans the index once and keeps that scan (for `ttlMs`) under
 * an id given with the digest: bucket requests that name it are answered
 * from it, so they match the digest the peer compared, with no new scan.
 * Scanning the whole index for each bucket (up to 64 scans a pass, each
 * allocating every entry) took a sixth of a catching-up node's main thread
 * while its peers repaired from it. A request naming no scan, or one gone,
 * is answered from a fresh scan.
 *
 * A digest is also kept for as long as the index's generation (moved by
 * every commit) stays what it was through the whole scan: an idle node
 * answers its own passes and its peers' without reading the index again.
 * Those scans were most of an idle node's work (10,000 files: about 100 ms
 * of main thread each, three or more a pass).
 */
export class DigestCache {
  readonly #pages: () => AsyncIterable<Entry[]>;
  readonly #generation: () => number;
  readonly #ttlMs: number;
  readonly #keep: number;
  readonly #now: () => number;
  /** The latest scans, oldest first: peers' passes may overlap (two peers of a three-node cluster). */
  #scans: { id: string; at: number; result: Promise<Scan> }[] = [];
  /** The latest digest whose scan no commit overlapped, with that generation. */
  #settled: { generation: number; buckets: Record<string, string>; scan: string } | undefined;
  #count = 0;

  constructor(options: {
    pages: () => AsyncIterable<Entry[]>;
    /** Moves whenever an entry may have changed (IndexDb.generation); without it every digest scans. */
    generation?: () => number;
    ttlMs?: number;
    keep?: number;
    now?: () => number;
  }) {
    this.#pages = options.pages;
    this.#generation = options.generation ?? (() => NaN);
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#keep = options.keep ?? 2;
    this.#now = options.now ?? Date.now;
  }

  /** A digest of the index as it is, and the id of its scan for the bucket requests that follow. */
  async digest(): Promise<{ buckets: Record<string, string>; scan: string }> {
    const generation = this.#generation();
    if (this.#settled?.generation === generation) return { buckets: this.#settled.buckets, scan: this.#settled.scan };
    const id = `${this.#now().toString(36)}-${++this.#count}`;
    const result = scanOnce(this.#pages());
    this.#scans = [...this.#fresh(), { id, at: this.#now(), result }].slice(-this.#keep);
    result.catch(() => (this.#scans = this.#scans.filter((s) => s.id !== id)));
    const { digest } = await result;
    if (this.#generation() === generation) this.#settled = { generation, buckets: digest, scan: id };
    return { buckets: digest, scan: id };
  }

  /** A bucket's records, tombstones included: from scan `scan` while it is kept, else from a fresh scan. */
  async records(bucket: number, scan?: string): Promise<FileRecord[]> {
    const kept = scan === undefined ? undefined : this.#fresh().find((s) => s.id === scan);
    const entries = kept ? (await kept.result).buckets.get(bucket) : await bucketEntries(this.#pages(), bucket);
    return (entries ?? []).map(publicRecord);
  }

  #fresh() {
    const now = this.#now();
    return (this.#scans = this.#scans.filter((s) => now - s.at <= this.#ttlMs));
  }
}

/** The digest of live records and every bucket's entries, in one pass over `pages`. */
async function scanOnce(pages: AsyncIterable<Entry[]>): Promise<Scan> {
  const buckets = new Map<number, Entry[]>();
  for await (const page of pages) {
    for (const e of page) {
      const b = bucketOf(e.path);
      let list = buckets.get(b);
      if (!list) buckets.set(b, (list = []));
      list.push(e);
    }
  }
  return { digest: await digestOf(buckets.values()), buckets };
}

/** The entries of one bucket, tombstones included, in one pass over `pages`. */
async function bucketEntries(pages: AsyncIterable<Entry[]>, bucket: number): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const page of pages) for (const e of page) if (bucketOf(e.path) === bucket) out.push(e);
  return out;
}
