/**
 * Content a peer pushed here while its upload was still streaming in
 * (push.ts), kept in the temp folder, fsynced, under the SHA-256 this node
 * computed itself. When the origin's change notice for that content arrives,
 * applying it takes the staged file instead of fetching the bytes again, so a
 * big write reaches the replicas about when it reaches the origin's disk.
 *
 * Staged content is only ever a cache: a staging that is not claimed within
 * `ttlMs` is deleted, one that fails is forgotten, and a change whose content
 * was not staged is fetched as before. Trust comes from the hash: the pusher
 * names no path and no version, and a staged file is used only for a change
 * whose SHA-256 and size it matches.
 */
import { promises as fsp } from 'node:fs';
import { NuvemError } from '../protocol/errors.ts';
import { concat, writeTemp } from './disk.ts';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';

export interface StagingOptions {
  tmpDir: string;
  /** How long staged content waits for its change notice. */
  ttlMs?: number;
  /** Bytes staged or being staged at once; more is refused (the push is optional). */
  maxBytes?: number;
  /** How long a change waits for a staging of its size from its origin to finish. */
  waitMs?: number;
  /** A push that sends nothing for this long is abandoned. */
  idleMs?: number;
  onOutcome?: (outcome: 'used' | 'expired' | 'failed' | 'refused') => void;
}

interface Staged {
  path: string;
  size: number;
  /** Small content, kept in memory (no file at `path` then). */
  bytes?: Uint8Array;
  timer: ReturnType<typeof setTimeout>;
}

interface InProgress {
  origin: string;
  size: number;
  done: Promise<unknown>;
}

export class Staging {
  readonly #o: Required<Omit<StagingOptions, 'onOutcome'>> & Pick<StagingOptions, 'onOutcome'>;
  readonly #staged = new Map<string, Staged>();
  readonly #inProgress = new Set<InProgress>();
  #bytes = 0;
  #closed = false;

  constructor(options: StagingOptions) {
    this.#o = { ttlMs: 60_000, maxBytes: 4 * 1024 ** 3, waitMs: 30_000, idleMs: 30_000, ...options };
  }

  /**
   * Receives content pushed by `origin`, `size` bytes long: streams it to a
   * temp file (hashing it), fsyncs it, and keeps it for the matching change.
   */
  async receive(origin: string, size: number, body: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
    if (this.#closed) throw new NuvemError('unavailable', 'The node is stopping');
    if (this.#bytes + size > this.#o.maxBytes) {
      this.#o.onOutcome?.('refused');
      throw new NuvemError('unavailable', `Staging is full (${this.#bytes} of ${this.#o.maxBytes} bytes in use); the content will be fetched instead`);
    }
    this.#bytes += size;
    // Small content stays in memory: applying it commits its bytes in the index (small_files.ts), no temp file, no flush.
    const writing: Promise<{ path: string; size: number; sha256: string; bytes?: Uint8Array }> = size <= SMALL_IN_MEMORY
      ? inMemory(withIdleTimeout(body, this.#o.idleMs), { size, tmpDir: this.#o.tmpDir })
      : writeTemp(this.#o.tmpDir, withIdleTimeout(body, this.#o.idleMs), { maxSize: size });
    const entry: InProgress = { origin, size, done: writing.catch(() => {}) };
    this.#inProgress.add(entry);
    let temp;
    try {
      temp = await writing;
      if (temp.size !== size) throw new NuvemError('bad_request', `Expected ${size} bytes, received ${temp.size}`);
    } catch (err) {
      this.#bytes -= size;
      if (temp && !temp.bytes) await fsp.rm(temp.path, { force: true });
      this.#o.onOutcome?.('failed');
      throw err;
    } finally {
      this.#inProgress.delete(entry);
    }
    if (this.#closed || this.#staged.has(temp.sha256)) {
      // Already staged (two pushes of the same bytes): keep one.
      this.#bytes -= size;
      if (!temp.bytes) await fsp.rm(temp.path, { force: true });
      return { sha256: temp.sha256, size };
    }
    const staged: Staged = { path: temp.path, size, bytes: temp.bytes, timer: undefined as unknown as ReturnType<typeof setTimeout> };
    staged.timer = setTimeout(() => {
      if (this.#staged.get(temp.sha256) !== staged) return;
      this.#forget(temp.sha256);
      this.#o.onOutcome?.('expired');
      if (!staged.bytes) void fsp.rm(temp.path, { force: true });
    }, this.#o.ttlMs);
    (staged.timer as { unref?: () => void }).unref?.();
    this.#staged.set(temp.sha256, staged);
    return { sha256: temp.sha256, size };
  }

  /**
   * The staged file holding `sha256` (`size` bytes), now the caller's to
   * rename or delete; first waits for stagings of that size from `origin`
   * still under way. Undefined when there is none.
   */
  async take(origin: string, sha256: string, size: number): Promise<string | undefined> {
    const staged = await this.#take(origin, sha256, size);
    if (!staged) return undefined;
    if (!staged.bytes) return staged.path;
    // Kept in memory (small): written out for a caller that wants a file.
    await fsp.writeFile(staged.path, staged.bytes, { flag: 'wx' });
    return staged.path;
  }

  /** The staged bytes of small content (`sha256`, `size` bytes), in memory; undefined when there are none. */
  async takeSmall(origin: string, sha256: string, size: number): Promise<Uint8Array | undefined> {
    const staged = await this.#take(origin, sha256, size);
    if (!staged) return undefined;
    if (staged.bytes) return staged.bytes;
    return await fsp.readFile(staged.path).finally(() => fsp.rm(staged.path, { force: true }));
  }

  async #take(origin: string, sha256: string, size: number): Promise<Staged | undefined> {
    const pending = [...this.#inProgress].filter((p) => p.origin === origin && p.size === size).map((p) => p.done);
    if (pending.length && !this.#staged.has(sha256)) await withTimeout(Promise.all(pending), this.#o.waitMs);
    const staged = this.#staged.get(sha256);
    if (!staged || staged.size !== size) return undefined;
    this.#forget(sha256);
    this.#o.onOutcome?.('used');
    return staged;
  }

  /** Bytes staged or being received. */
  get bytes(): number {
    return this.#bytes;
  }

  close(): void {
    this.#closed = true;
    for (const [sha, s] of this.#staged) {
      this.#forget(sha);
      if (!s.bytes) void fsp.rm(s.path, { force: true });
    }
  }

  #forget(sha256: string): void {
    const s = this.#staged.get(sha256);
    if (!s) return;
    clearTimeout(s.timer);
    this.#staged.delete(sha256);
    this.#bytes -= s.size;
  }
}

/** Content up to this size is staged in memory. */
const SMALL_IN_MEMORY = 64 * 1024;

/** A small pushed body in memory, hashed; refused when it is longer than `size`. */
async function inMemory(body: AsyncIterable<Uint8Array>, options: { size: number; tmpDir: string }): Promise<{ path: string; size: number; sha256: string; bytes: Uint8Array }> {
  const { size } = options;
  const chunks: Uint8Array[] = [];
  let got = 0;
  const hash = createHash('sha256');
  for await (const chunk of body) {
    got += chunk.byteLength;
    if (got > size) throw new NuvemError('too_large', `The body is larger than ${size} bytes`);
    hash.update(chunk);
    chunks.push(chunk);
  }
  return { path: join(options.tmpDir, randomUUID()), size: got, sha256: hash.digest('hex'), bytes: concat(chunks, got) };
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Chunks of `body`, failing when none comes for `ms` (a pusher that vanished
 * without a reset); time the consumer takes with a chunk does not count. One
 * timer for the whole body, which checks when the wait began: a timer per
 * chunk cost a replica more CPU than the check is worth.
 */
export async function* withIdleTimeout(body: AsyncIterable<Uint8Array>, ms: number): AsyncIterable<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let finished = false;
  // The wait in progress: when it began, and how to end it. (Not a race
  // against one long-lived promise: every race would leave a reaction on it,
  // holding that chunk until the body ends.)
  let waitingSince: number | undefined;
  let fail: ((err: unknown) => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const now = performance.now();
    if (waitingSince !== undefined && now - waitingSince >= ms) {
      fail?.(new NuvemError('bad_request', `No bytes for ${ms} ms; the push was abandoned`));
      return;
    }
    timer = setTimeout(check, (waitingSince ?? now) + ms - now);
  };
  timer = setTimeout(check, ms);
  try {
    for (;;) {
      waitingSince = performance.now();
      const next = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        fail = reject;
        it.next().then(resolve, reject);
      });
      waitingSince = undefined;
      fail = undefined;
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    // Not awaited: a source stuck in an await would never finish returning.
    if (!finished) it.return?.()?.catch(() => {});
  }
}
