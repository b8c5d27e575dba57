/**
 * The commit pipeline: a change's folders are fsynced, its index mutation is
 * committed grouped with concurrent ones (group_commit.ts), this node's
 * changes get their seq in that transaction, the index's write-ahead log is
 * made durable, and only then do the seq, the applied vector and the change
 * feed move on and listeners hear of the changes. Nothing of a change is told
 * before its fsync: a crash could otherwise let the node give the same seq to
 * another change after restart.
 */
import { setImmediate } from 'node:timers';
import { diskError } from './disk.ts';
import { GroupCommit } from './group_commit.ts';
import { NuvemError } from '../protocol/errors.ts';
import type { IndexDb, Mutation, Pruned } from './index_db.ts';
import type { Layout } from './layout.ts';
import type { Change, FileRecord, LocalStat } from '../protocol/record.ts';

/** A batch of index changes built under the path locks; seq numbers are set at commit. */
export interface Pending {
  changes: Change[];
  put: { record: FileRecord; local?: LocalStat }[];
  revisions: FileRecord[];
  /** Folders whose entries this change renamed, linked or removed: fsynced together before the index commit. */
  syncDirs?: string[];
  /** A remote change applied in its origin's order: advances `applied[origin]` to its seq. */
  advance?: { origin: string; seq: number };
  /** Tombstones to forget (see `purge`). */
  purge?: { path: string; version: string }[];
  /** Paths whose kept revisions are all dropped, content too (trash.ts). */
  dropRevisions?: string[];
  /** Where this node's own changes came from, for the change log: `api` (default) or `folder` (an edit in the files folder). */
  source?: 'api' | 'folder';
  /**
   * Index rows beside the records: small files' bytes, their plain files
   * still to sync and those made durable (small_files.ts); intents of
   * renames about to happen and intents fulfilled (intents.ts); a folder
   * move's intent in `meta` (folder_move.ts).
   */
  rows?: Pick<Mutation, 'blobs' | 'unmaterialised' | 'materialised' | 'intents' | 'fulfilled' | 'meta'>;
  /** Puts the files back as they were when the change cannot commit (layout.ts registers them; run newest first). */
  undo?: (() => void)[];
}

/** Where a committed change came from: `api`, `folder`, or `peer:<origin>` for a change applied from another node. */
export type ChangeSource = 'api' | 'folder' | `peer:${string}`;

export interface CommitPipelineOptions {
  nodeId: string;
  index: IndexDb;
  /** Fsyncs the change's folders; drops the content of revisions the index pruned. */
  layout: Layout;
  /** Makes the index's write-ahead log durable (default: fdatasync of it); a seam for tests. */
  syncWal?: (walPath: string) => Promise<void>;
  /** Told of an exception thrown by a listener; default: printed on stderr. */
  onListenerError?: (err: unknown) => void;
  /**
   * Told once when the write-ahead log could not be made durable. The pages
   * of a failed fsync may be lost while the index believes them written
   * (fsyncgate), so no later change commits; the node should stop (mod.ts exits).
   */
  onFatal?: (err: unknown) => void;
}

export class CommitPipeline {
  readonly #nodeId: string;
  readonly #index: IndexDb;
  readonly #layout: Layout;
  readonly #commits: GroupCommit<Pending, Pruned[]>;
  readonly #onListenerError: (err: unknown) => void;
  readonly #listeners = new Set<(changes: Change[], sources: ChangeSource[]) => void>();
  /** The last seq given to a change of this node (committed; durable once in #durableSeq). */
  #seq: number;
  /** The last seq of this node whose commit is durable: the one others may learn of. */
  #durableSeq: number;
  /** The id of the last change-log row whose commit is durable: how far the /changes feed reads. */
  #durableChangeId: number;
  /** Highest contiguous seq applied per remote origin (committed; durable once in #durableApplied). */
  readonly #applied: Record<string, number>;
  readonly #durableApplied: Record<string, number>;
  /** Set once a WAL fsync failed: nothing commits any more. */
  #failed: unknown;

  constructor(options: CommitPipelineOptions) {
    const { index, layout } = options;
    this.#nodeId = options.nodeId;
    this.#index = index;
    this.#layout = layout;
    this.#onListenerError = options.onListenerError ?? ((err) => console.error('change listener failed:', err));
    this.#seq = this.#durableSeq = index.maxSeq(options.nodeId);
    this.#applied = index.applied();
    this.#durableApplied = { ...this.#applied };
    this.#durableChangeId = index.lastChangeId();
    const syncWal = options.syncWal ?? ((wal: string) => layout.syncer.sync(wal, { dataOnly: true }));
    const onFatal = options.onFatal ?? (() => {});
    this.#commits = new GroupCommit({
      commit: (batch) => this.#commitBatch(batch),
      durable: () =>
        syncWal(index.walPath).catch((err) => {
          if (this.#failed === undefined) onFatal(err);
          this.#failed ??= err;
          throw err;
        }),
      onDurable: (batch) => this.#durableBatch(batch),
    });
  }

  /** The last seq of this node's own changes that is durable. */
  get seq(): number {
    return this.#durableSeq;
  }

  /** The id of the last change-log row that is durable. */
  get changeId(): number {
    return this.#durableChangeId;
  }

  /** Highest contiguous seq held durably per origin, this node's own included. */
  applied(): Record<string, number> {
    return { ...this.#durableApplied, [this.#nodeId]: this.#durableSeq };
  }

  /** Called with every batch of changes once it is durable (fsynced), in commit order, with where each came from. */
  onChange(listener: (changes: Change[], sources: ChangeSource[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when a change after `since` is durable, or after `ms`, or on abort. */
  waitForChange(since: number, options: { ms: number; signal?: AbortSignal }): Promise<void> {
    const { ms, signal } = options;
    if (this.#durableChangeId > since || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Listeners hear of a batch once it is durable, which may be after a
      // later reader began waiting: only a change after `since` ends the wait.
      const off = this.onChange(() => {
        if (this.#durableChangeId > since) done();
      });
      signal?.addEventListener('abort', done);
    });
  }

  /**
   * Makes the change's folder entries durable (all its folders fsynced at
   * once), commits it to the index (grouped), then drops the content of
   * revisions the commit pruned.
   */
  async commit(pending: Pending): Promise<void> {
    let pruned: Pruned[];
    try {
      if (this.#failed !== undefined) throw new NuvemError('unavailable', 'The node stopped writing: its index could not be flushed to disk');
      await this.#layout.syncFolders(pending.syncDirs);
      pruned = await this.#commits.submit(pending);
    } catch (err) {
      // The index has not taken the change: its files go back as they were
      // (the old version at its path), unless the WAL fsync failed and the node stops.
      if (this.#failed === undefined) await this.#undo(pending);
      throw diskError(err);
    }
    for (const p of pruned) this.#layout.dropRevision(p);
  }

  /**
   * Gives this node's next change a seq after `seq` (peers have applied this
   * node's changes up to it: the node was restored from an older copy of its
   * data folder and must not give those seqs again).
   */
  skipSeqTo(seq: number): void {
    if (seq > this.#seq) this.#seq = seq;
  }

  /** Runs a failed change's undo steps, newest first, and fsyncs its folders again (best effort). */
  async #undo(pending: Pending): Promise<void> {
    for (const step of (pending.undo ?? []).reverse()) {
      try {
        step();
      } catch { /* left as it is: the start-up check reconciles the folder with the index */ }
    }
    pending.undo = [];
    await this.#layout.syncFolders(pending.syncDirs).catch(() => {});
  }

  /** Moves `applied[origin]` to `seq`, unless it is there already. */
  advance(origin: string, seq: number): Promise<void> {
    if ((this.#applied[origin] ?? 0) >= seq) return Promise.resolve();
    return this.commit({ changes: [], put: [], revisions: [], advance: { origin, seq } });
  }

  /** Runs in one transaction for a batch: numbers the changes, writes the index, tells listeners. */
  #commitBatch(batch: Pending[]): Pruned[][] {
    const numbered: { seq: number }[] = [];
    const mutations: Mutation[] = batch.map((p) => {
      // By version, so that a folder move of n entries costs n, not n² (a change's records share its version).
      const byVersion = new Map<string, FileRecord[]>();
      for (const { record } of p.put) byVersion.set(record.version, [...(byVersion.get(record.version) ?? []), record]);
      for (const change of p.changes) {
        if (change.origin !== this.#nodeId) continue; // remote: keeps its origin's seq
        if (change.seq !== 0) {
          // One of this node's own changes coming back from a peer (this node
          // was restored from an older copy of its data folder): later
          // changes get later seqs, never its seq again.
          if (change.seq > this.#seq) this.#seq = change.seq;
          continue;
        }
        change.seq = ++this.#seq;
        numbered.push(change);
        for (const record of byVersion.get(change.version) ?? []) {
          record.seq = change.seq;
          numbered.push(record);
        }
      }
      const m: Mutation = { put: p.put, revisions: p.revisions, log: p.changes, purge: p.purge, dropRevisions: p.dropRevisions, ...p.rows };
      if (p.advance) m.applied = { [p.advance.origin]: p.advance.seq };
      return m;
    });
    let pruned: Pruned[][];
    try {
      pruned = this.#index.commit(mutations);
    } catch (err) {
      // Not committed: the seqs given here are given again (group_commit.ts retries a batch one by one).
      for (const n of numbered) n.seq = 0;
      this.#seq = this.#index.maxSeq(this.#nodeId);
      throw err;
    }
    for (const p of batch) if (p.advance) this.#applied[p.advance.origin] = p.advance.seq;
    return pruned;
  }

  /** A committed batch is durable: its seqs may be told, and listeners hear of its changes. */
  #durableBatch(batch: Pending[]): void {
    // No later batch is committed before this one is durable (group_commit.ts): the last row is this batch's.
    this.#durableChangeId = this.#index.lastChangeId();
    for (const p of batch) {
      for (const c of p.changes) if (c.origin === this.#nodeId && c.seq > this.#durableSeq) this.#durableSeq = c.seq;
      if (p.advance && p.advance.seq > (this.#durableApplied[p.advance.origin] ?? 0)) this.#durableApplied[p.advance.origin] = p.advance.seq;
    }
    const changes = batch.flatMap((p) => p.changes);
    const sources = batch.flatMap((p) => p.changes.map((c): ChangeSource => (c.origin === this.#nodeId ? p.source ?? 'api' : `peer:${c.origin}`)));
    setImmediate(() => {
      for (const listener of this.#listeners) {
        try {
          listener(changes, sources);
        } catch (err) {
          this.#onListenerError(err);
        }
      }
    });
  }
}
