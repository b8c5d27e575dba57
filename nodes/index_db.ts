/**
 * The SQLite index under DATA/.nuvem/: current records, kept revisions, this
 * node's change log and small settings. Synchronous (libsql); every mutation
 * goes through `commit()`, one transaction per batch (see `group_commit.ts`).
 */
import Database from 'libsql';
import type { Tombstone } from './purge.ts';
import { inTransaction } from './sqlite_tx.ts';
import type { EntryChange } from './live_digest.ts';
import type { Change, FileRecord, LocalStat } from '../protocol/record.ts';

export interface Entry extends FileRecord {
  local?: LocalStat;
}

/** A planned write, applied inside one transaction by `commit()`. */
export interface Mutation {
  /** Records to upsert (current state of their paths). */
  put?: { record: FileRecord; local?: LocalStat }[];
  /** Replaced records to keep as revisions. */
  revisions?: FileRecord[];
  /** Change-log entries to append. */
  log?: Change[];
  /** Highest contiguous seq applied, per origin. */
  applied?: Record<string, number>;
  /** Tombstones to forget: each entry is deleted only if it is still that deleted version. */
  purge?: { path: string; version: string }[];
  /** Bytes of small files, kept by SHA-256 (small_files.ts): committed with their records. */
  blobs?: { sha256: string; bytes: Uint8Array }[];
  /** Versions whose plain file in files/ is not yet known durable: rewritten from their blob at start-up. */
  unmaterialised?: { path: string; version: string }[];
  /** Versions whose plain file a batched sync made durable, with where it sits (recorded only if still current). */
  materialised?: { path: string; version: string; local?: LocalStat }[];
  /** Changes whose file is about to be renamed into place, made durable before the rename (intents.ts). */
  intents?: Change[];
  /** Intents done with: committed, or found not carried out. */
  fulfilled?: { path: string; version: string }[];
  /** Paths whose kept revisions are all dropped (trash.ts); their content is returned like pruned revisions. */
  dropRevisions?: string[];
  /** Meta rows set (null: removed) in the same transaction (a folder move's intent, folder_move.ts). */
  meta?: Record<string, string | null>;
}

type Row = Record<string, unknown>;

const HOT_ENTRIES = 100_000;

/** Files up to this size may keep their bytes in the index (DESIGN.md section 3: small files take one flush). */
export const BLOB_MAX = 64 * 1024;

export interface Totals {
  files: number;
  bytes: number;
  tombstones: number;
}

export interface Pruned {
  version: string;
  sha256: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  path TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  version TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  modified INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  origin TEXT NOT NULL,
  seq INTEGER NOT NULL,
  prev TEXT,
  local_size INTEGER,
  local_mtime REAL,
  local_ino INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revisions (
  path TEXT NOT NULL,
  version TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (path, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY,
  origin TEXT NOT NULL,
  seq INTEGER NOT NULL,
  change TEXT NOT NULL
);
DROP INDEX IF EXISTS log_origin_seq;
CREATE UNIQUE INDEX IF NOT EXISTS log_origin_seq_version ON log(origin, seq, json_extract(change, '$.version'));
CREATE INDEX IF NOT EXISTS entries_sha ON entries(sha256) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS revisions_sha ON revisions(sha256);
CREATE TABLE IF NOT EXISTS applied (origin TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- A rowid table: rows of kilobytes do not suit WITHOUT ROWID b-trees (each split moves them).
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS unmaterialised (path TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS intents (path TEXT NOT NULL, version TEXT NOT NULL, change TEXT NOT NULL, PRIMARY KEY (path, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_floor (origin TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
`;

function toEntry(row: Row | undefined): Entry | undefined {
  if (!row) return undefined;
  const entry: Entry = {
    path: row.path as string,
    type: row.type as Entry['type'],
    version: row.version as string,
    size: Number(row.size),
    sha256: row.sha256 as string,
    modified: Number(row.modified),
    contentType: row.content_type as string,
    deleted: row.deleted === 1,
    origin: row.origin as string,
    seq: Number(row.seq),
  };
  if (row.prev !== null && row.prev !== undefined) entry.prev = row.prev as string;
  if (row.local_size !== null && row.local_size !== undefined) {
    entry.local = { size: Number(row.local_size), mtimeMs: Number(row.local_mtime), ino: Number(row.local_ino) };
  }
  return entry;
}

/** Strips index-only fields: what clients and peers see. */
export function publicRecord(entry: Entry | FileRecord): FileRecord {
  const { path, type, version, size, sha256, modified, contentType, deleted, origin, seq, prev } = entry;
  const record: FileRecord = { path, type, version, size, sha256, modified, contentType, deleted, origin, seq };
  if (prev !== undefined) record.prev = prev;
  return record;
}

export class IndexDb {
  readonly #db: Database.Database;
  readonly #keepRevisions: number;
  /** The write-ahead log: fsync it to make committed transactions durable. */
  readonly walPath: string;
  readonly #stmt: Record<string, Database.Statement>;
  /** Recently used entries, least recent first; null: the path has no entry (parents looked up on every write). */
  readonly #hot = new Map<string, Entry | null>();
  readonly #transaction: (batch: Mutation[], unreferenced: Set<string>) => unknown;
  /** Told what each commit did to live records (live_digest.ts). */
  #onEntries: ((changes: EntryChange[]) => void) | undefined;
  /** Counted once when opened, then moved by each commit (#effectsOf). */
  #totals: Totals;

  constructor(file: string, options: { keepRevisions: number }) {
    this.#keepRevisions = options.keepRevisions;
    this.#db = new Database(file);
    // One connection, in this process: no file locks per transaction and the
    // WAL index in heap memory instead of a shared-memory file (set before WAL mode).
    this.#db.pragma('locking_mode = EXCLUSIVE');
    this.#db.pragma('journal_mode = WAL');
    // Commits write the WAL without fsync; the store fsyncs the WAL file
    // (`walPath`) off the event loop before it acknowledges a change. NORMAL
    // still syncs the WAL before each checkpoint and the database after it.
    this.#db.pragma('synchronous = NORMAL');
    this.walPath = file + '-wal';
    this.#db.exec(SCHEMA);
    this.#transaction = (batch: Mutation[], unreferenced: Set<string>) => inTransaction(this.#db, () => {
      const pruned = batch.map((m) => this.#apply(m));
      for (const p of pruned.flat()) unreferenced.add(p.sha256);
      for (const sha of unreferenced) this.#stmt.dropBlob.run(sha);
      return pruned;
    });
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmt = {
      get: p('SELECT * FROM entries WHERE path = ?'),
      upsert: p(`INSERT OR REPLACE INTO entries
        (path, type, version, size, sha256, modified, content_type, deleted, origin, seq, prev, local_size, local_mtime, local_ino)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      range: p('SELECT * FROM entries WHERE path > ? AND path < ? AND deleted = 0 ORDER BY path LIMIT ?'),
      firstLive: p('SELECT * FROM entries WHERE path >= ? AND path < ? AND deleted = 0 ORDER BY path LIMIT 1'),
      all: p('SELECT * FROM entries'),
      page: p('SELECT * FROM entries WHERE path > ? ORDER BY path LIMIT ?'),
      addRevision: p('INSERT OR REPLACE INTO revisions (path, version, sha256, record) VALUES (?, ?, ?, ?)'),
      revisions: p('SELECT record FROM revisions WHERE path = ? ORDER BY version DESC'),
      revision: p('SELECT record FROM revisions WHERE path = ? AND version = ?'),
      // The revisions of a path beyond the newest N, dropped and returned in one statement.
      pruneRevisions: p(`DELETE FROM revisions WHERE path = ?1 AND version IN
        (SELECT version FROM revisions WHERE path = ?1 ORDER BY version DESC LIMIT -1 OFFSET ?2) RETURNING version, sha256`),
      addLog: p('INSERT OR IGNORE INTO log (origin, seq, change) VALUES (?, ?, ?)'),
      logSince: p('SELECT id, change FROM log WHERE id > ? ORDER BY id LIMIT ?'),
      lastLogId: p('SELECT max(id) AS id FROM log'),
      // The log may be pruned (log_prune.ts): the highest seq pruned counts too.
      maxSeq: p(`SELECT max(coalesce((SELECT max(seq) FROM log WHERE origin = ?1), 0),
        coalesce((SELECT seq FROM log_floor WHERE origin = ?1), 0)) AS seq`),
      countTotals: p(`SELECT coalesce(sum(deleted = 0 AND type = 'file'), 0) AS files,
        coalesce(sum(CASE WHEN deleted = 0 AND type = 'file' THEN size ELSE 0 END), 0) AS bytes,
        coalesce(sum(deleted), 0) AS tombstones FROM entries`),
      tombstones: p('SELECT path, origin, seq, version FROM entries WHERE deleted = 1'),
      purge: p('DELETE FROM entries WHERE path = ? AND version = ? AND deleted = 1'),
      byShaLive: p('SELECT path FROM entries WHERE sha256 = ? AND deleted = 0 LIMIT 1'),
      byShaKept: p('SELECT record FROM revisions WHERE sha256 = ? LIMIT 1'),
      logFor: p('SELECT change FROM log WHERE origin = ? AND seq > ? ORDER BY seq, id LIMIT ?'),
      hasLog: p('SELECT 1 FROM log WHERE origin = ? AND seq = ?'),
      hasChange: p("SELECT 1 FROM log WHERE origin = ? AND seq = ? AND json_extract(change, '$.version') = ?"),
      applied: p('SELECT origin, seq FROM applied'),
      setApplied: p('INSERT OR REPLACE INTO applied (origin, seq) VALUES (?, ?)'),
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      dropMeta: p('DELETE FROM meta WHERE key = ?'),
      addBlob: p('INSERT OR IGNORE INTO blobs (sha256, bytes) VALUES (?, ?)'),
      blob: p('SELECT bytes FROM blobs WHERE sha256 = ?'),
      hasBlob: p('SELECT 1 FROM blobs WHERE sha256 = ?'),
      // A blob no live record and no kept revision refers to any more.
      dropBlob: p(`DELETE FROM blobs WHERE sha256 = ?1
        AND NOT EXISTS (SELECT 1 FROM entries WHERE sha256 = ?1 AND deleted = 0)
        AND NOT EXISTS (SELECT 1 FROM revisions WHERE sha256 = ?1)`),
      addUnmaterialised: p('INSERT OR REPLACE INTO unmaterialised (path, version) VALUES (?, ?)'),
      dropUnmaterialised: p('DELETE FROM unmaterialised WHERE path = ? AND version = ?'),
      unmaterialised: p('SELECT path, version FROM unmaterialised ORDER BY path'),
      addIntent: p('INSERT OR REPLACE INTO intents (path, version, change) VALUES (?, ?, ?)'),
      dropIntent: p('DELETE FROM intents WHERE path = ? AND version = ?'),
      intents: p('SELECT change FROM intents ORDER BY path, version'),
      setLocal: p('UPDATE entries SET local_size = ?, local_mtime = ?, local_ino = ? WHERE path = ? AND version = ?'),
      ...trashStatements(p),
    };
    const counted = this.#stmt.countTotals.get() as Row;
    this.#totals = { files: Number(counted.files), bytes: Number(counted.bytes), tombstones: Number(counted.tombstones) };
  }

  /** `fn` is told, after each commit, what it did to live records (entries change only through `commit`); it must not throw. */
  observeEntries(fn: (changes: EntryChange[]) => void): void {
    this.#onEntries = fn;
  }

  /** The entry of a path; hot entries are served from memory (every write goes through `commit`). */
  get(path: string): Entry | undefined {
    const hit = this.#hot.get(path);
    if (hit !== undefined) {
      this.#hot.delete(path);
      this.#hot.set(path, hit);
      return hit ?? undefined;
    }
    const entry = toEntry(this.#stmt.get.get(path) as Row | undefined);
    this.#remember(path, entry ?? null);
    return entry;
  }

  #remember(path: string, entry: Entry | null): void {
    this.#hot.delete(path);
    this.#hot.set(path, entry);
    if (this.#hot.size > HOT_ENTRIES) this.#hot.delete(this.#hot.keys().next().value!);
  }

  /** Live entries with lo < path < hi, in byte order. */
  range(lo: string, hi: string, limit: number): Entry[] {
    return (this.#stmt.range.all(lo, hi, limit) as Row[]).map((r) => toEntry(r)!);
  }

  /** The first live entry with lo <= path < hi. */
  firstLive(lo: string, hi: string): Entry | undefined {
    return toEntry(this.#stmt.firstLive.get(lo, hi) as Row | undefined);
  }

  *all(): Generator<Entry> {
    for (const row of this.#stmt.all.iterate() as Iterable<Row>) yield toEntry(row)!;
  }

  /** Up to `limit` entries after `after` in path order, tombstones included (read in pages: digest.ts). */
  page(after: string, limit: number): Entry[] {
    return (this.#stmt.page.all(after, limit) as Row[]).map((r) => toEntry(r)!);
  }

  /** Every tombstone (deleted entry); consume it before the next write. */
  *tombstones(): Generator<Tombstone> {
    for (const r of this.#stmt.tombstones.iterate() as Iterable<Row>) {
      yield { path: r.path as string, origin: r.origin as string, seq: Number(r.seq), version: r.version as string };
    }
  }

  revisions(path: string): FileRecord[] {
    return (this.#stmt.revisions.all(path) as Row[]).map((r) => JSON.parse(r.record as string));
  }

  revision(path: string, version: string): FileRecord | undefined {
    const row = this.#stmt.revision.get(path, version) as Row | undefined;
    return row ? JSON.parse(row.record as string) : undefined;
  }

  changesSince(id: number, limit: number): { id: number; change: Change }[] {
    return (this.#stmt.logSince.all(id, limit) as Row[]).map((r) => ({
      id: Number(r.id),
      change: JSON.parse(r.change as string),
    }));
  }

  /** Changes from `origin` after `seq`, in seq order (for peers catching up); a seq given to two changes comes twice. */
  logFor(origin: string, after: number, limit: number): Change[] {
    return (this.#stmt.logFor.all(origin, after, limit) as Row[]).map((r) => JSON.parse(r.change as string));
  }

  hasLog(origin: string, seq: number): boolean {
    return this.#stmt.hasLog.get(origin, seq) !== undefined;
  }

  /** Does the log still reach back to `origin`'s `seq` (not pruned that far: log_prune.ts)? */
  logReaches(origin: string, seq: number): boolean {
    return seq > this.originFloor(origin);
  }

  /**
   * Is change (origin, seq, version) in the log? A seq alone does not name a
   * change: a forged notice, or an origin restored from a backup of its data
   * folder, can give one seq to two changes (the log keeps both).
   */
  hasChange(origin: string, seq: number, version: string): boolean {
    return this.#stmt.hasChange.get(origin, seq, version) !== undefined;
  }

  applied(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.#stmt.applied.all() as Row[]) out[row.origin as string] = Number(row.seq);
    return out;
  }

  /** Where content with this SHA-256 is held: a live path, or a kept revision. */
  findContent(sha256: string): { path: string } | { revision: FileRecord } | undefined {
    const live = this.#stmt.byShaLive.get(sha256) as Row | undefined;
    if (live) return { path: live.path as string };
    const kept = this.#stmt.byShaKept.get(sha256) as Row | undefined;
    return kept ? { revision: JSON.parse(kept.record as string) } : undefined;
  }

  lastChangeId(): number {
    return Number((this.#stmt.lastLogId.get() as Row).id ?? 0);
  }

  maxSeq(origin: string): number {
    return Number((this.#stmt.maxSeq.get(origin) as Row).seq ?? 0);
  }

  /**
   * Live files, their bytes, and tombstones (every heartbeat reports them).
   * Kept in memory: counting them scans every entry, 18 ms at 100,000 files
   * and 180 ms at 1,000,000, on the main thread. SQL triggers could keep
   * them in the index instead, but made an upsert 4× dearer (~37 µs more
   * per transaction with INSERT OR REPLACE, which needs recursive triggers).
   */
  totals(): Totals {
    return { ...this.#totals };
  }

  /** The bytes of a small file committed with its record (small_files.ts), by SHA-256. */
  blob(sha256: string): Uint8Array | undefined {
    const row = this.#stmt.blob.get(sha256) as Row | undefined;
    return row ? (row.bytes as Uint8Array) : undefined;
  }

  /** How many small files' contents the index holds (current and kept). */
  blobCount(): number {
    return Number((this.#db.prepare('SELECT count(*) AS n FROM blobs').get() as Row).n);
  }

  hasBlob(sha256: string): boolean {
    return this.#stmt.hasBlob.get(sha256) !== undefined;
  }

  /** Versions whose plain file is not yet known durable (start-up rewrites them). */
  unmaterialised(): { path: string; version: string }[] {
    return (this.#stmt.unmaterialised.all() as Row[]).map((r) => ({ path: r.path as string, version: r.version as string }));
  }

  /** Changes whose rename into place was about to happen when the node stopped (intents.ts). */
  intents(): Change[] {
    return (this.#stmt.intents.all() as Row[]).map((r) => JSON.parse(r.change as string));
  }

  unmaterialisedCount(): number {
    return Number((this.#db.prepare('SELECT count(*) AS n FROM unmaterialised').get() as Row).n);
  }

  /**
   * Where the plain file of `path` at `version` sits, known in memory before
   * it is committed (with its materialising sync): the folder watcher then
   * sees the node's own write as no edit. No effect if the path moved on.
   */
  noteLocal(path: string, version: string, local: LocalStat): void {
    const hit = this.#hot.get(path);
    if (hit && hit.version === version) this.#hot.set(path, { ...hit, local });
  }

  getMeta(key: string): string | undefined {
    return (this.#stmt.getMeta.get(key) as Row | undefined)?.value as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.#stmt.setMeta.run(key, value);
  }

  /**
   * Applies a batch of mutations in one transaction. Returns, per mutation, the
   * revisions pruned (beyond the newest `keepRevisions` of a path), whose kept content
   * the caller removes.
   */
  commit(batch: Mutation[]): Pruned[][] {
    const { totals, changes } = this.#effectsOf(batch);
    // Content whose blob may have lost its last reference: replaced records' (revisions keep theirs).
    const unreferenced = new Set<string>();
    for (const m of batch) {
      for (const { record } of m.put ?? []) {
        const before = this.get(record.path);
        if (before && !before.deleted && before.sha256 !== record.sha256 && before.size <= BLOB_MAX) unreferenced.add(before.sha256);
      }
    }
    let pruned: Pruned[][];
    try {
      pruned = this.#transaction(batch, unreferenced) as Pruned[][];
    } catch (err) {
      this.#hot.clear();
      throw err;
    }
    this.#totals = totals;
    this.#onEntries?.(changes);
    for (const m of batch) {
      for (const { path } of m.purge ?? []) this.#hot.delete(path);
      for (const { record, local } of m.put ?? []) this.#remember(record.path, { ...record, local });
      for (const { path, version, local } of m.materialised ?? []) if (local) this.noteLocal(path, version, local);
    }
    return pruned;
  }

  /**
   * The totals once `batch` is committed, and what it does to live records,
   * from the entries it replaces: read before the transaction, following
   * #apply (puts, then purges, which drop a tombstone only at its version).
   */
  #effectsOf(batch: Mutation[]): { totals: Totals; changes: EntryChange[] } {
    const changes: EntryChange[] = [];
    const live = (e: FileRecord | undefined) => (e && !e.deleted ? e.version : undefined);
    const t = { ...this.#totals };
    const written = new Map<string, FileRecord | undefined>();
    const at = (path: string) => (written.has(path) ? written.get(path) : this.get(path));
    const count = (e: FileRecord | undefined, sign: 1 | -1) => {
      if (!e) return;
      if (e.deleted) t.tombstones += sign;
      else if (e.type === 'file') {
        t.files += sign;
        t.bytes += sign * e.size;
      }
    };
    for (const m of batch) {
      for (const { record } of m.put ?? []) {
        const before = at(record.path);
        changes.push({ path: record.path, before: live(before), after: live(record) });
        count(before, -1);
        count(record, 1);
        written.set(record.path, record);
      }
      for (const { path, version } of m.purge ?? []) {
        const e = at(path);
        if (e?.deleted && e.version === version) {
          count(e, -1);
          written.set(path, undefined);
        }
      }
    }
    return { totals: t, changes };
  }

  #apply(m: Mutation): Pruned[] {
    const s = this.#stmt;
    for (const { record: r, local } of m.put ?? []) {
      s.upsert.run(
        r.path, r.type, r.version, r.size, r.sha256, r.modified, r.contentType, r.deleted ? 1 : 0,
        r.origin, r.seq, r.prev ?? null, local?.size ?? null, local?.mtimeMs ?? null, local?.ino ?? null,
      );
    }
    const pruned: Pruned[] = [];
    for (const r of m.revisions ?? []) {
      s.addRevision.run(r.path, r.version, r.sha256, JSON.stringify(r));
      for (const old of s.pruneRevisions.all(r.path, this.#keepRevisions) as Row[]) {
        pruned.push({ version: old.version as string, sha256: old.sha256 as string });
      }
    }
    for (const c of m.log ?? []) {
      s.addLog.run(c.origin, c.seq, JSON.stringify(c)); // ignored when (origin, seq, version) is already logged
    }
    for (const [origin, seq] of Object.entries(m.applied ?? {})) s.setApplied.run(origin, seq);
    for (const { path, version } of m.purge ?? []) s.purge.run(path, version);
    for (const b of m.blobs ?? []) s.addBlob.run(b.sha256, b.bytes);
    for (const { path, version } of m.unmaterialised ?? []) s.addUnmaterialised.run(path, version);
    for (const { path, version, local } of m.materialised ?? []) {
      s.dropUnmaterialised.run(path, version);
      if (local) s.setLocal.run(local.size, local.mtimeMs, local.ino, path, version);
    }
    for (const c of m.intents ?? []) s.addIntent.run(c.path, c.version, JSON.stringify(c));
    for (const { path, version } of m.fulfilled ?? []) s.dropIntent.run(path, version);
    for (const [key, value] of Object.entries(m.meta ?? {})) value === null ? s.dropMeta.run(key) : s.setMeta.run(key, value);
    for (const path of m.dropRevisions ?? []) {
      for (const old of s.dropRevisions.all(path) as Row[]) pruned.push({ version: old.version as string, sha256: old.sha256 as string });
    }
    return pruned;
  }

  // --- trash and reclaiming space (trash.ts, reclaim.ts)

  /** Entries, tombstones included, with lo < path < hi, in byte order. */
  rangeAll(lo: string, hi: string, limit: number): Entry[] {
    return (this.#stmt.rangeAll.all(lo, hi, limit) as Row[]).map((r) => toEntry(r)!);
  }

  /** Tombstones with lo < path < hi, in byte order. */
  deletedRange(lo: string, hi: string, limit: number): Entry[] {
    return (this.#stmt.deletedRange.all(lo, hi, limit) as Row[]).map((r) => toEntry(r)!);
  }

  /** Paths deleted at or before `modified` (out of the trash) that still keep revisions. */
  expiredWithRevisions(modified: number, limit: number): string[] {
    return (this.#stmt.expiredWithRevisions.all(modified, limit) as Row[]).map((r) => r.path as string);
  }

  /** Does some kept revision point at the content file of (sha256, version)? */
  keepsRevision(sha256: string, version: string): boolean {
    return this.#stmt.keepsRevision.get(sha256, version) !== undefined;
  }

  // --- change-log pruning (log_prune.ts)

  /** The origins with entries in the log. */
  logOrigins(): string[] {
    return (this.#stmt.logOrigins.all() as Row[]).map((r) => r.origin as string);
  }

  /** The id of the first log entry of `origin` after `seq`, if any. */
  firstLogIdAfter(origin: string, seq: number): number | undefined {
    const id = (this.#stmt.firstLogIdAfter.get(origin, seq) as Row).id;
    return id === null || id === undefined ? undefined : Number(id);
  }

  /** Log ids up to this one are pruned (0: none). */
  logFloor(): number {
    return Number(this.getMeta('log_floor') ?? 0);
  }

  /** The highest seq of `origin` pruned from the log (0: none). */
  originFloor(origin: string): number {
    return Number((this.#stmt.originFloor.get(origin) as Row | undefined)?.seq ?? 0);
  }

  /** Deletes the log entries with ids up to `id` (one transaction), keeping per origin the highest seq pruned. */
  pruneLog(id: number): number {
    return this.#db.transaction(() => {
      for (const r of this.#stmt.prunedSeqs.all(id) as Row[]) this.#stmt.raiseFloor.run(r.origin, Number(r.seq));
      const n = this.#stmt.pruneLog.run(id).changes;
      this.setMeta('log_floor', String(Math.max(id, this.logFloor())));
      return Number(n);
    })();
  }

  close(): void {
    this.#db.close();
  }
}

/** The statements of the trash and of reclaiming space. */
function trashStatements(p: (sql: string) => Database.Statement): Record<string, Database.Statement> {
  return {
    rangeAll: p('SELECT * FROM entries WHERE path > ? AND path < ? ORDER BY path LIMIT ?'),
    deletedRange: p('SELECT * FROM entries WHERE path > ? AND path < ? AND deleted = 1 ORDER BY path LIMIT ?'),
    expiredWithRevisions: p(`SELECT path FROM entries WHERE deleted = 1 AND modified <= ?
      AND EXISTS (SELECT 1 FROM revisions r WHERE r.path = entries.path) LIMIT ?`),
    keepsRevision: p('SELECT 1 FROM revisions WHERE sha256 = ? AND version = ? LIMIT 1'),
    dropRevisions: p('DELETE FROM revisions WHERE path = ? RETURNING version, sha256'),
    logOrigins: p('SELECT DISTINCT origin FROM log'),
    firstLogIdAfter: p('SELECT min(id) AS id FROM log WHERE origin = ? AND seq > ?'),
    originFloor: p('SELECT seq FROM log_floor WHERE origin = ?'),
    prunedSeqs: p('SELECT origin, max(seq) AS seq FROM log WHERE id <= ? GROUP BY origin'),
    raiseFloor: p(`INSERT INTO log_floor (origin, seq) VALUES (?1, ?2)
      ON CONFLICT (origin) DO UPDATE SET seq = max(seq, ?2)`),
    pruneLog: p('DELETE FROM log WHERE id <= ?'),
  };
}
