/**
 * What `nuvem sync` remembers between runs, in `DIR/.nuvem-sync/state.db`
 * (SQLite through `libsql`, in WAL mode like the node's index): the last
 * synced state (the planner's `base`) of every path, and a few settings
 * (`meta`): the remote folder the mirror is bound to, when the last full
 * reconcile ended, the newest remote version seen, the position in a
 * node's change feed a restart resumes from (`sync_resume.ts`).
 *
 * Changes are queued in memory and written in one transaction by `flush()`
 * (the mirror flushes after each group of actions, and whenever 500 are
 * queued), so 100 000 entries cost one transaction, not 100 000. A crash
 * loses at most the queued entries: a base entry is only ever written after
 * its action happened, and the planner turns a missing or older base entry
 * back into the same result (both sides equal: adopt it again).
 *
 * A lock file beside it (`lock`, holding the process id) makes a second
 * `nuvem sync` on the same folder fail at start instead of racing; a lock
 * left by a process that is gone is taken over. (SQLite's own exclusive
 * locking mode would do, but libsql keeps a closed connection's lock until
 * its statements are garbage-collected.)
 *
 * @example
 * const state = SyncState.open('/home/me/Nuvem');
 * const base = state.load();
 * state.set('a.txt', { kind: 'file', size: 3, mtimeMs, sha256, version });
 * state.flush();
 * state.close();
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import Database from 'libsql';
import type { BaseEntry } from './sync_types.ts';

/** The mirror's own folder inside the synced folder (never synced). */
export const STATE_FOLDER = '.nuvem-sync';

const SCHEMA_VERSION = '1';
const FLUSH_AT = 2000;

/** State files open in this process. */
const openHere = new Set<string>();

const SCHEMA = `
CREATE TABLE IF NOT EXISTS base (
  path TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime REAL NOT NULL,
  sha256 TEXT NOT NULL,
  version TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

/** Keys of the `meta` table. */
/** `feed`: the saved position in a node's change feed (`sync_resume.ts`). */
export type MetaKey = 'schema' | 'remote' | 'lastFullSync' | 'newestVersion' | 'feed';

type Row = [path: string, kind: string, size: number, mtime: number, sha256: string, version: string];

export class SyncState {
  /** The database file. */
  readonly file: string;
  readonly #db: Database.Database;
  readonly #stmt: Record<'upsert' | 'remove' | 'all' | 'getMeta' | 'setMeta', Database.Statement>;
  readonly #write: (changes: [string, BaseEntry | null][]) => void;
  /** path → entry to write, or null to delete. */
  #pending = new Map<string, BaseEntry | null>();

  readonly #lock: string;

  private constructor(file: string) {
    this.file = file;
    this.#lock = `${file}.lock`;
    takeLock(this.#lock);
    try {
      this.#db = new Database(file);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.exec(SCHEMA);
    } catch (err) {
      releaseLock(this.#lock);
      throw new Error(`Cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmt = {
      upsert: p('INSERT OR REPLACE INTO base (path, kind, size, mtime, sha256, version) VALUES (?, ?, ?, ?, ?, ?)'),
      remove: p('DELETE FROM base WHERE path = ?'),
      all: p('SELECT path, kind, size, mtime, sha256, version FROM base'),
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
    };
    this.#write = this.#db.transaction((changes: [string, BaseEntry | null][]) => {
      for (const [path, e] of changes) {
        if (e === null) this.#stmt.remove.run(path);
        else this.#stmt.upsert.run(path, e.kind, e.size, e.mtimeMs, e.sha256, e.version);
      }
    });
    if (this.meta('schema') === undefined) this.setMeta('schema', SCHEMA_VERSION);
  }

  /** Opens (or creates) the state of the synced folder `dir`. */
  static open(dir: string): SyncState {
    const folder = join(dir, STATE_FOLDER);
    mkdirSync(folder, { recursive: true });
    return new SyncState(join(folder, 'state.db'));
  }

  /** Every base entry, as saved (queued changes included). */
  load(): Map<string, BaseEntry> {
    const base = new Map<string, BaseEntry>();
    // Rows as arrays, and kinds as the two constant strings: 100 000 rows load without an object (and a string) per column.
    for (const row of this.#stmt.all.raw(true).iterate() as Iterable<Row>) {
      const [path, kind, size, mtime, sha256, version] = row;
      base.set(path, { kind: kind === 'folder' ? 'folder' : 'file', size: Number(size), mtimeMs: Number(mtime), sha256, version });
    }
    for (const [path, e] of this.#pending) {
      if (e === null) base.delete(path);
      else base.set(path, e);
    }
    return base;
  }

  /** Queues the new base entry of `path` (`undefined`: the path is forgotten). */
  set(path: string, entry: BaseEntry | undefined): void {
    this.#pending.set(path, entry ?? null);
    if (this.#pending.size >= FLUSH_AT) this.flush();
  }

  /** Writes every queued change in one transaction. */
  flush(): void {
    if (this.#pending.size === 0) return;
    const changes = [...this.#pending];
    this.#pending = new Map();
    this.#write(changes);
  }

  meta(key: MetaKey): string | undefined {
    const row = this.#stmt.getMeta.get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: MetaKey, value: string): void {
    this.#stmt.setMeta.run(key, value);
  }

  /** Flushes and closes the database, and releases the lock. */
  close(): void {
    if (!openHere.has(this.#lock)) return;
    try {
      this.flush();
    } finally {
      this.#db.close();
      releaseLock(this.#lock);
    }
  }
}

function takeLock(lock: string): void {
  const busy = () => new Error(`Cannot sync this folder: another nuvem sync is running on it (lock ${lock})`);
  if (openHere.has(lock)) throw busy();
  let holder = NaN;
  try {
    holder = Number(readFileSync(lock, 'utf8').trim());
  } catch {
    // no lock file
  }
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) throw busy();
  writeFileSync(lock, `${process.pid}\n`);
  openHere.add(lock);
}

function releaseLock(lock: string): void {
  openHere.delete(lock);
  rmSync(lock, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
