/**
 * What the parts of the store share, built once by store.ts: the index, the
 * clock, the path locks, the files on disk, the commit pipeline, the cache of
 * small files and the pushes staged by peers. The parts (writes.ts, apply.ts,
 * reads.ts, recovery.ts, purge.ts) are functions or small classes over it.
 */
import type { Clock } from './clock.ts';
import type { CommitPipeline } from './commit_pipeline.ts';
import type { IndexDb } from './index_db.ts';
import type { Layout } from './layout.ts';
import type { Locks } from './locks.ts';
import type { FileRecord } from '../protocol/record.ts';
import type { SmallFileCache } from './small_cache.ts';
import type { Staging } from './staging.ts';
import type { Materialiser } from './small_files.ts';

export interface StoreContext {
  readonly nodeId: string;
  readonly index: IndexDb;
  readonly clock: Clock;
  readonly locks: Locks;
  readonly layout: Layout;
  readonly commits: CommitPipeline;
  readonly cache: SmallFileCache;
  /** Content peers pushed while their uploads streamed in, waiting for its change. */
  readonly staging: Staging;
  /** Syncs the plain files of small versions written after their commit, in batches (small_files.ts). */
  readonly materialiser: Materialiser;
  /** Told when a small version's plain file could not be written (it stays in the index, rewritten at start-up). */
  readonly onSmallError?: (err: unknown, path: string) => void;
  /** Told when a batch of a folder move failed to commit and is tried again until it does (folder_move.ts). */
  readonly onMoveRetry?: (err: unknown) => void;
  /** A record of a new change of this node at `path`: the next version, modified now, its seq set at commit. */
  newRecord(path: string, fields: Pick<FileRecord, 'type' | 'size' | 'sha256' | 'contentType'>): FileRecord;
}
