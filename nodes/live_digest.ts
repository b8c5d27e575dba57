/**
 * The anti-entropy digest (DESIGN.md section 4), kept up to date by every
 * commit instead of computed by reading the whole index for each request.
 *
 * A bucket's digest is the XOR of SHA-256(`path \0 version`) over its live
 * records: order does not matter, so a commit moves it by taking the
 * replaced live version out and putting the new one in, two hashes. Paths
 * are unique, so no two terms of a bucket cancel. Empty buckets (XOR zero)
 * are left out.
 *
 * It is built once, on the first request, reading the index a page at a
 * time in path order and yielding between pages. A commit that lands while
 * it is being built is applied to what was read so far only when its path
 * was read already (byte order, as SQLite orders paths); a later path is
 * read as the commit left it. The result equals a digest built at once
 * after the commit.
 *
 * Before, every digest (a node's own pass and each peer's, every 30 s)
 * read the whole index: for 10,000 files about 100 ms of main thread and
 * the garbage to go with it, most of what an idle node did.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { bucketOf } from '../protocol/digest_buckets.ts';
import type { FileRecord } from '../protocol/record.ts';

/** What one commit did to one path's live record: the version it replaced and the one it left (each absent if not live). */
export interface EntryChange {
  path: string;
  before?: string;
  after?: string;
}

type Acc = Map<number, Buffer>;

type Live = Pick<FileRecord, 'path' | 'version' | 'deleted'>;

export class LiveDigest {
  readonly #pages: () => AsyncIterable<Live[]>;
  #acc: Acc | undefined;
  /** While building: what was read so far, the last path read (UTF-8), and whether a commit could not be applied to it. */
  #building: { acc: Acc; cursor?: Buffer; failed?: boolean } | undefined;
  #built: Promise<void> | undefined;

  /**
   * `pages()`: every record, tombstones included, in path order (byte order),
   * a page at a time, yielding between pages (digest.ts `entryPages`).
   */
  constructor(pages: () => AsyncIterable<Live[]>) {
    this.#pages = pages;
  }

  /** Bucket → hex digest of its live records; empty buckets left out. */
  async digest(): Promise<Record<string, string>> {
    if (!this.#acc) await (this.#built ??= this.#build().finally(() => (this.#built = undefined)));
    const out: Record<string, string> = {};
    for (const [bucket, x] of [...this.#acc!].sort(([a], [b]) => a - b)) if (x.some((byte) => byte !== 0)) out[String(bucket)] = x.toString('hex');
    return out;
  }

  /**
   * Called with what each successful commit did to live records, in commit
   * order. Never throws (the commit it reports is done): should applying
   * them fail, the digest is dropped and built again on the next request.
   */
  committed(changes: readonly EntryChange[]): void {
    try {
      if (this.#acc) {
        for (const c of changes) move(this.#acc, c);
        return;
      }
      const b = this.#building;
      if (!b?.cursor) return; // nothing read yet: the build reads these as they are now
      for (const c of changes) if (Buffer.compare(Buffer.from(c.path), b.cursor) <= 0) move(b.acc, c);
    } catch {
      this.#acc = undefined;
      if (this.#building) this.#building.failed = true;
    }
  }

  async #build(): Promise<void> {
    const building: { acc: Acc; cursor?: Buffer; failed?: boolean } = { acc: new Map() };
    this.#building = building;
    try {
      for await (const page of this.#pages()) {
        for (const r of page) if (!r.deleted) toggle(building.acc, r.path, r.version);
        building.cursor = Buffer.from(page[page.length - 1].path); // commits land between pages, after this
      }
      if (building.failed) throw new Error('a commit during the digest\'s build could not be applied to it; asked again, it is built again');
      this.#acc = building.acc;
    } finally {
      this.#building = undefined;
    }
  }
}

function move(acc: Acc, c: EntryChange): void {
  if (c.before === c.after) return;
  if (c.before !== undefined) toggle(acc, c.path, c.before);
  if (c.after !== undefined) toggle(acc, c.path, c.after);
}

/** XORs SHA-256(`path \0 version`) into the path's bucket: in if it was out, out if it was in. */
function toggle(acc: Acc, path: string, version: string): void {
  const h = createHash('sha256').update(`${path}\u0000${version}`).digest();
  const bucket = bucketOf(path);
  const x = acc.get(bucket);
  if (!x) return void acc.set(bucket, h);
  for (let i = 0; i < 32; i++) x[i] ^= h[i];
}
