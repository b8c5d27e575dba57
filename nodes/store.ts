/**
 * The local store: current files as a plain tree under DATA/files/, the SQLite
 * index, kept revisions under DATA/.nuvem/revs/, upload temp files under
 * DATA/.nuvem/tmp/.
 *
 * Every change follows one protocol: the content is streamed to a temp file
 * and fsynced; under the path's lock the replaced content is linked into
 * revs/, the temp file renamed into place and its folder fsynced; then the
 * index commits (grouped with concurrent commits). A crash at any point leaves
 * the old or the new version; `recover()` reconciles what the index had not
 * yet recorded.
 *
 * The class holds the parts together; the work is theirs: `writes.ts` (this
 * node's changes), `apply.ts` (peers' changes), `reads.ts`, `layout.ts` (the
 * files on disk), `commit_pipeline.ts` (group commit, seq, WAL sync, change
 * listeners), `recovery.ts`, `purge.ts` and `digest.ts`.
 */
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { carryBytes } from './catch_up.ts';
import { BLOB_MAX } from './index_db.ts';
import { type ApplyResult, type ContentSource, RemoteChanges } from './apply.ts';
import { createClock, type Clock } from './clock.ts';
import { type ChangeSource, CommitPipeline } from './commit_pipeline.ts';
import { DigestCache, entryPages } from './digest.ts';
import { LiveDigest } from './live_digest.ts';
import type { Page, PutOptions, Readable, StorePort } from '../functions/deps.ts';
import { IndexDb, publicRecord } from './index_db.ts';
import { Layout, prepareFolders } from './layout.ts';
import { Locks } from './locks.ts';
import { type MemberApplied, purgeTombstones } from './purge.ts';
import { pruneLog } from './log_prune.ts';
import * as reads from './reads.ts';
import type { Change, Conditions, FileRecord } from '../protocol/record.ts';
import { reconcile } from './recovery.ts';
import { SmallFileCache } from './small_cache.ts';
import { Materialiser, rematerialise } from './small_files.ts';
import { adoptIntents } from './intents.ts';
import { finishFolderMove } from './folder_move.ts';
import { Staging } from './staging.ts';
import type { StoreContext } from './store_context.ts';
import { LocalWrites } from './writes.ts';
import { checkVolume } from './volume.ts';
import { DAY_MS, DEFAULT_TRASH_DAYS, erase, expireTrash, isOutOfTrash, listTrash, restoreFromTrash, type TrashClock, type TrashEntry } from './trash.ts';

export type { ApplyResult, ContentSource } from './apply.ts';

export interface StoreOptions {
  dataDir: string;
  nodeId: string;
  clock?: Clock;
  now?: () => number;
  keepRevisions?: number;
  /** Files up to this size are kept in memory for fast reads. */
  smallFileBytes?: number;
  cacheBytes?: number;
  /** Told what became of each push received from a peer (staging.ts). */
  onStaging?: (outcome: 'used' | 'expired' | 'failed' | 'refused') => void;
  /** Makes the index's write-ahead log durable (default: fdatasync of it); a seam for tests. */
  syncWal?: (walPath: string) => Promise<void>;
  /** Start even when the files folder or its marker is missing, and let the start-up check tombstone any number of vanished files (volume.ts). */
  acceptVanished?: boolean;
  /** Told of an exception thrown by a change listener (it never reaches the commit, nor kills the process). */
  onListenerError?: (err: unknown) => void;
  /** How long a small file's plain file waits for the batched sync that marks it materialised (small_files.ts; 500). */
  materialiseMs?: number;
  /** Told when a small file's plain file could not be written or rewritten (its bytes stay in the index). */
  onSmallError?: (err: unknown, path: string) => void;
  /** Told when a batch of a folder move failed to commit and is tried again until it does (folder_move.ts). */
  onMoveRetry?: (err: unknown) => void;
  /** Told once when the index's WAL could not be flushed; no change commits after it (commit_pipeline.ts). */
  onFatal?: (err: unknown) => void;
  /** How long a deleted path stays restorable, in ms (default 30 days; trash.ts). */
  trashMs?: number;
  /** Change-log entries always kept for `/changes` readers (default 100,000; log_prune.ts). */
  changesKeep?: number;
}

export class Store implements StorePort {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly filesDir: string;
  readonly metaDir: string;
  readonly tmpDir: string;
  readonly revsDir: string;
  readonly index: IndexDb;
  readonly clock: Clock;
  /** Content peers pushed while their uploads streamed in, waiting for its change. */
  readonly staging: Staging;
  readonly #ctx: StoreContext;
  readonly #commits: CommitPipeline;
  readonly #writes: LocalWrites;
  readonly #remote: RemoteChanges;
  readonly #materialiser: Materialiser;
  readonly #trash: () => TrashClock;
  readonly #onListenerError: (err: unknown) => void;
  readonly #changesKeep: number;
  /** Paths whose tombstone committed out of the trash: their revisions are dropped next (trash.ts). */
  #expiring: Set<string> | undefined;

  private constructor(options: StoreOptions, index: IndexDb) {
    const { nodeId } = options;
    const layout = new Layout({ dataDir: options.dataDir, index });
    this.nodeId = nodeId;
    this.dataDir = options.dataDir;
    this.filesDir = layout.filesDir;
    this.metaDir = layout.metaDir;
    this.tmpDir = layout.tmpDir;
    this.revsDir = layout.revsDir;
    this.index = index;
    index.observeEntries((changes) => this.#live.committed(changes));
    const now = options.now ?? Date.now;
    const clock = (this.clock = options.clock ?? createClock({ nodeId, now }));
    const cache = new SmallFileCache({
      maxFileBytes: options.smallFileBytes ?? 64 * 1024,
      maxBytes: options.cacheBytes ?? 32 * 1024 * 1024,
    });
    this.staging = new Staging({ tmpDir: layout.tmpDir, onOutcome: options.onStaging });
    this.#commits = new CommitPipeline({ nodeId, index, layout, syncWal: options.syncWal, onListenerError: options.onListenerError, onFatal: options.onFatal });
    this.#onListenerError = options.onListenerError ?? ((err) => console.error('dropping revisions of a deleted path failed:', err));
    this.#ctx = {
      nodeId,
      index,
      clock,
      locks: new Locks(),
      layout,
      commits: this.#commits,
      cache,
      staging: this.staging,
      materialiser: this.#materialiser = new Materialiser({ commits: this.#commits, syncer: layout.syncer, delayMs: options.materialiseMs ?? 500 }),
      onSmallError: options.onSmallError,
      onMoveRetry: options.onMoveRetry,
      newRecord: (path, fields) => ({
        path,
        ...fields,
        version: clock.tick(),
        modified: now(),
        deleted: false,
        origin: nodeId,
        seq: 0,
      }),
    };
    this.#writes = new LocalWrites(this.#ctx);
    this.#remote = new RemoteChanges(this.#ctx);
    this.#changesKeep = options.changesKeep ?? 100_000;
    const trashMs = options.trashMs ?? DEFAULT_TRASH_DAYS * DAY_MS;
    this.#trash = () => ({ trashMs, now: now() });
    this.#commits.onChange((changes) => this.#expireSoon(changes));
  }

  /** A tombstone out of the trash that just committed (an erase, applied here or written): its path's revisions go now. */
  #expireSoon(changes: Change[]): void {
    const clock = this.#trash();
    const paths = changes.map((c) => c.path).filter((p) => isOutOfTrash(this.index.get(p), clock));
    if (paths.length === 0) return;
    if (this.#expiring) {
      for (const p of paths) this.#expiring.add(p);
      return;
    }
    const batch = (this.#expiring = new Set(paths));
    setTimeout(() => {
      this.#expiring = undefined;
      expireTrash(this.#ctx, { clock: this.#trash, paths: [...batch] }).catch((err) => this.#onListenerError(err));
    }, 0);
  }

  /** Opens (creating if needed) the store in `dataDir` and empties its temp folder. */
  static async open(options: StoreOptions): Promise<Store> {
    await prepareFolders(options.dataDir);
    const index = new IndexDb(join(options.dataDir, '.nuvem', 'index.db'), { keepRevisions: options.keepRevisions ?? 10 });
    try {
      await checkVolume(join(options.dataDir, 'files'), index, { acceptVanished: options.acceptVanished });
    } catch (err) {
      index.close();
      throw err;
    }
    const store = new Store(options, index);
    for (const e of index.all()) store.clock.observe(e.version);
    return store;
  }

  /** The path locks every change holds (reclaim.ts holds them all while it collects orphaned content). */
  get locks(): Locks {
    return this.#ctx.locks;
  }

  /** The last seq of this node's own changes that is durable. */
  get seq(): number {
    return this.#commits.seq;
  }

  /**
   * The applied vector: highest contiguous seq held durably per origin, this
   * node's own included. What the node tells its peers: a seq committed but
   * not yet fsynced is left out, since a crash could give it to another change.
   */
  applied(): Record<string, number> {
    return this.#commits.applied();
  }

  /** Changes from `origin` after `seq` that this node holds durably, in seq order. */
  logFor(origin: string, after: number, limit: number): Change[] {
    const changes = this.index.logFor(origin, after, limit);
    return origin === this.nodeId ? changes.filter((c) => c.seq <= this.#commits.seq) : changes;
  }

  /** A page of `origin`'s log after `after` carrying small files' bytes, at most `maxBytes` of them (catch_up.ts). */
  logPage(origin: string, after: number, options: { limit: number; maxBytes: number }): { changes: Change[]; bytes: Record<string, string> } {
    const page = carryBytes(this.logFor(origin, after, options.limit), {
      bytesOf: (c) => (c.size <= BLOB_MAX ? this.index.blob(c.sha256) : undefined),
      maxBytes: options.maxBytes,
    });
    const bytes: Record<string, string> = {};
    for (const [sha, b] of page.bytes) bytes[sha] = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
    return { changes: page.changes, bytes };
  }

  /** The current record of a path (tombstones included), or undefined. */
  get(path: string): FileRecord | undefined {
    const e = this.index.get(path);
    return e && publicRecord(e);
  }

  /** A live file or folder record; implicit folders (parents of files) get a synthetic record. */
  stat(path: string): FileRecord | { path: string; type: 'folder' } {
    return reads.statPath(this.#ctx, path);
  }

  /** Called with every batch of changes once it is durable (fsynced), in commit order. */
  onChange(listener: (changes: Change[], sources: ChangeSource[]) => void): () => void {
    return this.#commits.onChange(listener);
  }

  // --- writes (writes.ts)

  /** Stores a file from a streamed body. */
  put(path: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<{ record: FileRecord; created: boolean }> {
    return this.#writes.put(path, body, options);
  }

  /** Creates an empty folder. */
  mkcol(path: string): Promise<FileRecord> {
    return this.#writes.mkcol(path);
  }

  /** Deletes a file, or a folder with `recursive`; returns the tombstones. */
  remove(path: string, options: Conditions & { recursive?: boolean } = {}): Promise<FileRecord[]> {
    return this.#writes.remove(path, options);
  }

  /** Renames a file or a folder with its subtree; no content is copied. Returns the new records. */
  move(from: string, to: string, options: Conditions & { overwrite?: boolean } = {}): Promise<FileRecord[]> {
    return this.#writes.move(from, to, options);
  }

  // --- reads (reads.ts)

  /** Opens the current version, or a kept one with `version`. */
  read(path: string, options: { version?: string } = {}): Promise<Readable> {
    return reads.readFile(this.#ctx, path, options);
  }

  /** The current version of a small file when its bytes are in memory; no I/O. */
  readSmall(path: string): { record: FileRecord; bytes: Uint8Array } | undefined {
    return reads.readSmall(this.#ctx, path);
  }

  list(folder: string, options: { recursive: boolean; limit: number; cursor?: string }): Page {
    return reads.listPath(this.#ctx, folder, options);
  }

  revisions(path: string): FileRecord[] {
    return this.index.revisions(path);
  }

  /** This node's change feed after `since` (a cursor from an earlier answer; 0 = the beginning), durable changes only. */
  changes(since: number, limit: number): { changes: Change[]; cursor: number } {
    const rows = this.index.changesSince(since, limit).filter((r) => r.id <= this.#commits.changeId);
    return { changes: rows.map((r) => r.change), cursor: rows.length ? rows[rows.length - 1].id : since };
  }

  /** Log ids up to this one are pruned: a `/changes` cursor below it is gone (log_prune.ts). */
  changesFloor(): number {
    return this.index.logFloor();
  }

  /** The newest durable cursor of `/changes` (where a reader starting now follows from). */
  changesEnd(): number {
    return this.#commits.changeId;
  }

  /** The highest seq of `origin` pruned from this node's log: a peer asking for changes after less gets 410. */
  logFloor(origin: string): number {
    return this.index.originFloor(origin);
  }

  /**
   * Prunes the change log below what every one of `members` (this node
   * among them) holds, keeping the newest `--changes-keep` entries
   * (log_prune.ts). Returns how many entries went.
   */
  pruneLog(members: MemberApplied[]): Promise<number> {
    return pruneLog(this.index, { lastId: this.#commits.changeId, keep: this.#changesKeep, members });
  }

  /** Resolves when a change after `since` exists, or after `ms`, or on abort. */
  waitForChange(since: number, ms: number, signal?: AbortSignal): Promise<void> {
    return this.#commits.waitForChange(since, { ms, signal });
  }

  close(): void {
    this.#materialiser.close();
    this.staging.close();
    this.index.close();
  }

  // --- replication (apply.ts)

  /**
   * Applies a change made on another node, through the same durable path as a
   * local write. The higher-ranked record wins (conflict.ts); a losing live
   * version is kept as a revision. Content comes from a local copy with the
   * same SHA-256 when this node holds one, else from `fetchContent`; it is
   * verified before anything is committed. With `advance`, the change is the
   * next of its origin and moves `applied[origin]` to its seq.
   */
  applyRemote(change: Change, options: { fetchContent: ContentSource; advance: boolean }): Promise<ApplyResult> {
    return this.#remote.apply(change, options);
  }

  /**
   * Counts a remote change as applied without its content (gone everywhere);
   * a move still leaves its tombstone at `from`.
   */
  markApplied(change: Change, options: { advance: boolean }): Promise<void> {
    return this.#remote.markApplied(change, options);
  }

  /**
   * Has this node applied change (origin, seq, version)? Matched by version
   * too: a seq reused by a restored origin, or squatted by a forged notice,
   * names another change.
   */
  holdsChange(change: { origin: string; seq: number; version: string }): boolean {
    if (change.origin === this.nodeId && change.seq > this.#commits.seq) return false;
    return this.index.hasChange(change.origin, change.seq, change.version);
  }

  /** This node's next change gets a seq after `seq` (peers applied its changes that far: see CommitPipeline). */
  skipSeqTo(seq: number): void {
    this.#commits.skipSeqTo(seq);
  }

  /** Moves `applied[origin]` to `seq` once every change up to it is in (see Replicator). */
  advanceApplied(origin: string, seq: number): Promise<void> {
    return this.#commits.advance(origin, seq);
  }

  /**
   * Forgets tombstones every member has applied (purge.ts decides which),
   * under their paths' locks, a few hundred per commit. A path whose record
   * is no longer that tombstone (written again since) keeps its record; kept
   * revisions stay. Returns how many were purged.
   */
  purge(tombstones: { path: string; version: string }[]): Promise<number> {
    return purgeTombstones(this.#ctx, tombstones, { clock: this.#trash });
  }

  // --- the trash (trash.ts)

  /** A page of what is in the trash at `path` or under it ('' for all). */
  trash(path: string, options: { limit: number; cursor?: string }): { entries: TrashEntry[]; nextCursor: string } {
    return listTrash(this.#ctx, path, { ...options, clock: this.#trash() });
  }

  /** Brings back what is in the trash at `path` (with `version`, that kept version) as new versions; returns their records. */
  restore(path: string, options: { version?: string } = {}): Promise<FileRecord[]> {
    return restoreFromTrash(this.#ctx, path, {
      clock: this.#trash(),
      version: options.version,
      writes: {
        put: (p, body, o) => this.put(p, body, o),
        mkcol: (p) => this.mkcol(p),
        read: (p, version) => this.read(p, { version }),
      },
    });
  }

  /** Erases `path` (a folder with `recursive`) and every kept revision, on every node; returns the erase tombstones. */
  erase(path: string, options: Conditions & { recursive?: boolean } = {}): Promise<FileRecord[]> {
    return erase(this.#ctx, path, options);
  }

  /** Drops the revisions of every path deleted longer ago than the trash period; returns how many paths. */
  expireTrash(): Promise<number> {
    return expireTrash(this.#ctx, { clock: this.#trash });
  }

  /** Opens content by SHA-256 for a peer: size and a stream, or undefined. */
  openContent(sha256: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | undefined> {
    return reads.openContent(this.#ctx, sha256);
  }

  /**
   * Digest for anti-entropy: a hash per bucket of the live records only,
   * kept by commits (live_digest.ts); or the records of one bucket,
   * tombstones included (digest.ts).
   */
  digest(): Promise<Record<string, string>> {
    return this.#live.digest();
  }

  /** The digest served to a peer, with the id of its scan, which the peer's bucket requests name (digest.ts DigestCache). */
  servedDigest(): Promise<{ buckets: Record<string, string>; scan: string }> {
    return this.#served.digest();
  }

  /** A bucket's records, tombstones included: from digest scan `scan` while kept, else read afresh. */
  bucketRecords(bucket: number, scan?: string): Promise<FileRecord[]> {
    return this.#served.records(bucket, scan);
  }

  readonly #live = new LiveDigest(() => entryPages(this.index));
  readonly #served = new DigestCache({ pages: () => entryPages(this.index), digest: () => this.#live.digest() });

  /**
   * Reconciles the files folder with the index at start-up (see recovery.ts):
   * changed or unknown files become new versions, vanished ones tombstones.
   */
  async recover(options: { acceptVanished?: boolean; startUp?: boolean } = {}): Promise<{
    changed: string[];
    skipped: string[];
    heldBack: number;
    deferred: number;
    rewritten: string[];
    adopted: string[];
    folderMove?: Awaited<ReturnType<typeof finishFolderMove>>;
  }> {
    // At start only (a rescan of a running node must take a hand edit as an edit):
    // small files committed but not yet synced on disk first, since a crash before their sync is no edit (small_files.ts);
    // then large files renamed into place just before a crash, committed as the change they were (intents.ts).
    const rewritten = options.startUp ? await rematerialise(this.#ctx) : [];
    const adopted = options.startUp ? await adoptIntents(this.#ctx) : [];
    // And a folder move a crash interrupted, completed or rolled back by where the folder is (folder_move.ts).
    const folderMove = options.startUp ? await finishFolderMove(this.#ctx) : undefined;
    return { ...(await reconcile(this.#ctx, options)), rewritten, adopted, folderMove };
  }

  /** Syncs every small file's plain file written so far and marks it materialised (small_files.ts). */
  materialise(): Promise<void> {
    return this.#materialiser.settle();
  }

  /**
   * Checks `paths` (with their subtrees) of the files folder against the
   * index, as start-up does for the whole folder: what a person or program
   * changed there becomes a new version, move or tombstone (recovery.ts).
   */
  reconcilePaths(paths: Iterable<string>): Promise<{ changed: string[]; skipped: string[]; heldBack: number; deferred: number }> {
    return reconcile(this.#ctx, { paths });
  }

}
