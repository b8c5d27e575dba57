/**
 * Watches a node's files folder (`DATA/files/`, or a `nuvem sync` folder) —
 * one inotify watch per folder (`dir_watcher.ts`) — and reports paths once they
 * have settled: unchanged (same kind, size, mtime and inode on `lstat`) for
 * `settleMs` after their last event. A file still being written is never
 * reported while it keeps changing. Paths that settle together come in one
 * batch, so a rename (a delete and a create) arrives as one `settled` event.
 *
 * The watcher does not say what happened to a path: the consumer lstats each
 * reported path and compares it with its index (which also tells its own
 * writes from a person's edits). When events may have been lost (a watcher
 * error, too many pending paths, the inotify watch limit) it emits `rescan`.
 */
import { EventEmitter } from 'node:events';
import { lstatSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import type { ChokidarOptions } from 'chokidar';
import { watchFolders } from './dir_watcher.ts';

/** A logger: one line per call, with a level and optional fields. */
export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

/** Timer functions the watcher uses; tests may pass their own. */
export interface WatchTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** Why the consumer must rescan the whole folder. */
export type RescanReason = 'error' | 'overflow' | 'watch_limit' | 'periodic';

/** Events of a {@linkcode FolderWatcher}, in the style of chokidar's typed map. */
export interface FolderWatcherEvents {
  /** Relative posix paths that changed in any way and have since settled. */
  settled: [batch: { paths: string[] }];
  /** Events may have been lost: compare the whole folder with the index. */
  rescan: [info: { reason: RescanReason }];
  /** The initial scan is done (or the watcher fell back to rescans). */
  ready: [];
}

/** The part of a chokidar `FSWatcher` the folder watcher uses. */
export interface ChokidarLike {
  on(event: 'all', listener: (event: string, path: string) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  close(): Promise<void>;
}

/** Options of a {@linkcode FolderWatcher}. */
export interface FolderWatcherOptions {
  /** The folder to watch, e.g. a node's `DATA/files/`. */
  root: string;
  /** How long a path must stay unchanged before it is reported. Default 1000 ms. */
  settleMs?: number;
  /** Extra wait after the first path of a batch settles, so paths changed together are reported together. Default `settleMs / 4`. */
  batchMs?: number;
  /**
   * Paths to leave out, given the relative posix path of a file or folder (a
   * folder left out is not descended into). Paths with a `.nuvem` segment are
   * always left out.
   */
  ignore?: (relPath: string) => boolean;
  log?: Log;
  /** At most this many paths waiting to settle; beyond it the watcher asks for one rescan instead. Default 10 000. */
  maxPending?: number;
  /** After falling back (watch limit), emit `rescan` this often. Default 60 000 ms; 0 turns it off. */
  fallbackRescanMs?: number;
  timers?: WatchTimers;
  /**
   * Builds the underlying watcher: by default one inotify watch per folder
   * (`dir_watcher.ts`; chokidar's per-file watches would not scale to 100 000
   * files); tests pass chokidar itself, or one that injects errors.
   */
  createWatcher?: (root: string, options: ChokidarOptions) => ChokidarLike;
}

interface Pending {
  /** When to lstat it next (ms, timers.now()). */
  due: number;
  /** Bumped by each event, so a stat started before an event is not trusted. */
  gen: number;
  /** lstat signature taken after the last event, or undefined while unknown. */
  sig: string | undefined;
  statting: boolean;
}

const realTimers: WatchTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

const LIMIT_MESSAGES: Record<string, string> = {
  ENOSPC:
    'Cannot watch every folder: the inotify watch limit (fs.inotify.max_user_watches) is reached; falling back to periodic rescans',
  EMFILE:
    'Cannot watch every folder: too many open files (ulimit -n, or the inotify limits fs.inotify.max_user_instances / fs.inotify.max_user_watches); falling back to periodic rescans',
};

/**
 * Watches a files folder with chokidar and reports settled paths in batches.
 *
 * @example
 * const watcher = new FolderWatcher({ root: 'DATA/files', ignore: (p) => p.endsWith('.tmp') });
 * watcher.on('settled', ({ paths }) => store.reconcile(paths));
 * watcher.on('rescan', () => store.rescan());
 * await new Promise((done) => watcher.once('ready', done));
 * // … later
 * await watcher.close();
 */
export class FolderWatcher extends EventEmitter<FolderWatcherEvents> {
  readonly root: string;
  readonly settleMs: number;
  readonly #batchMs: number;
  readonly #ignore: (relPath: string) => boolean;
  readonly #log: Log;
  readonly #maxPending: number;
  readonly #fallbackRescanMs: number;
  readonly #timers: WatchTimers;
  readonly #pending = new Map<string, Pending>();
  #inner: ChokidarLike | undefined;
  #timer: unknown;
  #timerAt = Infinity;
  #rescan: { reason: RescanReason; due: number; latest: number } | undefined;
  #fallbackTimer: unknown;
  #ready = false;
  #closed = false;
  #checking = false;

  constructor(options: FolderWatcherOptions) {
    super();
    this.root = resolve(options.root);
    this.settleMs = options.settleMs ?? 1000;
    this.#batchMs = options.batchMs ?? Math.round(this.settleMs / 4);
    const ignore = options.ignore ?? (() => false);
    this.#ignore = (rel) => isReserved(rel) || ignore(rel);
    this.#log = options.log ?? (() => {});
    this.#maxPending = options.maxPending ?? 10_000;
    this.#fallbackRescanMs = options.fallbackRescanMs ?? 60_000;
    this.#timers = options.timers ?? realTimers;
    const create = options.createWatcher ?? ((root, opts) => watchFolders(root, { ignored: opts.ignored as (path: string) => boolean }));
    this.#inner = create(this.root, this.#chokidarOptions());
    this.#inner.on('all', (_event, path) => this.#onEvent(path));
    this.#inner.on('error', (error) => this.#onError(error));
    this.#inner.on('ready', () => this.#onReady());
  }

  /** Paths waiting to settle (for status and tests). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Stops watching and clears every timer; pending paths are dropped. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimers();
    this.#pending.clear();
    this.#rescan = undefined;
    await this.#closeInner();
  }

  #chokidarOptions(): ChokidarOptions {
    return {
      persistent: true,
      ignoreInitial: true, // the consumer scans the folder itself at start
      followSymlinks: false,
      atomic: false, // chokidar's atomic mode hides `*~` and `*.swp` files and delays deletes
      ignorePermissionErrors: true,
      ignored: (path: string) => {
        const rel = this.#relative(path);
        return rel !== '' && this.#ignore(rel);
      },
    };
  }

  #relative(path: string): string {
    const rel = relative(this.root, resolve(this.root, path));
    return sep === '/' ? rel : rel.split(sep).join('/');
  }

  #onEvent(path: string): void {
    if (this.#closed || this.#inner === undefined) return;
    const rel = this.#relative(path);
    if (rel === '' || rel.startsWith('../') || rel === '..' || this.#ignore(rel)) return;
    const now = this.#timers.now();
    if (this.#rescan) return this.#pushRescan(now);
    let entry = this.#pending.get(rel);
    if (!entry) {
      if (this.#pending.size >= this.#maxPending) return this.#requestRescan('overflow');
      entry = { due: 0, gen: 0, sig: undefined, statting: false };
      this.#pending.set(rel, entry);
    }
    entry.due = now + this.settleMs;
    entry.gen += 1;
    entry.sig = undefined;
    void this.#baseline(rel, entry);
    this.#armAt(entry.due + this.#batchMs);
  }

  /** Takes the lstat signature right after the latest event of a path. */
  async #baseline(rel: string, entry: Pending): Promise<void> {
    if (entry.statting) return;
    entry.statting = true;
    try {
      for (;;) {
        const gen = entry.gen;
        const sig = await this.#signature(rel);
        if (this.#pending.get(rel) !== entry) return;
        if (entry.gen === gen) {
          entry.sig = sig;
          return;
        }
      }
    } finally {
      entry.statting = false;
    }
  }

  /**
   * The path's lstat signature. A synchronous lstat: on a local folder it
   * costs microseconds, far less than a round trip through the thread pool,
   * which a folder taking thousands of writes a second pays several times per
   * path (measured: 11% of a catching-up node's main thread).
   */
  async #signature(rel: string): Promise<string> {
    try {
      const s = lstatSync(resolve(this.root, rel));
      const kind = s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFile() ? 'f' : 'o';
      return `${kind}:${s.size}:${s.mtimeMs}:${s.ino}`;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
      return `error:${code}`;
    }
  }

  /** Keeps one timer, at the earliest due time plus the batch wait. */
  #arm(): void {
    let at = this.#rescan ? this.#rescan.due : Infinity;
    for (const entry of this.#pending.values()) at = Math.min(at, entry.due + this.#batchMs);
    this.#armAt(at);
  }

  /**
   * Sets the one timer to `at` unless it already fires sooner. A timer that
   * fires early (its path had a newer event) finds nothing due and re-arms.
   */
  #armAt(at: number): void {
    if (this.#closed || this.#checking || at === Infinity || at >= this.#timerAt) return;
    this.#clearTimer();
    this.#timerAt = at;
    const delay = Math.max(0, at - this.#timers.now());
    this.#timer = this.#timers.setTimeout(() => void this.#check(), delay);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** Checks every path that is due; reports the settled ones as one batch. */
  async #check(): Promise<void> {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#checking = true;
    try {
      if (this.#rescan && this.#rescan.due <= this.#timers.now()) this.#emitRescan();
      const settled = await this.#collectSettled();
      if (settled.length > 0 && !this.#closed) {
        settled.sort();
        this.#log('debug', 'Folder paths settled', { count: settled.length });
        this.emit('settled', { paths: settled });
      }
    } finally {
      this.#checking = false;
      this.#arm();
    }
  }

  async #collectSettled(): Promise<string[]> {
    const now = this.#timers.now();
    const due = [...this.#pending].filter(([, entry]) => entry.due <= now);
    const results = await Promise.all(due.map(([rel, entry]) => this.#settle(rel, entry)));
    return results.filter((rel): rel is string => rel !== undefined);
  }

  /** The path if it is settled (and drops it from pending), else re-arms it. */
  async #settle(rel: string, entry: Pending): Promise<string | undefined> {
    const gen = entry.gen;
    const before = entry.sig;
    const sig = await this.#signature(rel);
    if (this.#closed || this.#pending.get(rel) !== entry || entry.gen !== gen) return undefined;
    if (before !== undefined && before === sig) {
      this.#pending.delete(rel);
      return rel;
    }
    // Changed without an event (or the baseline was not in yet): wait another period.
    entry.sig = sig;
    entry.due = this.#timers.now() + this.settleMs;
    return undefined;
  }

  /** Drops the per-path state and asks for one rescan once the folder is quiet. */
  #requestRescan(reason: RescanReason): void {
    if (this.#closed) return;
    const now = this.#timers.now();
    this.#pending.clear();
    if (!this.#rescan) {
      this.#log('warn', 'Folder events may have been lost; a full rescan follows', { reason });
      this.#rescan = { reason, due: now + this.settleMs, latest: now + 10 * this.settleMs };
    }
    this.#arm();
  }

  /** An event during a wanted rescan pushes it back (a quiet folder is rescanned), within a limit. */
  #pushRescan(now: number): void {
    const rescan = this.#rescan!;
    rescan.due = Math.min(now + this.settleMs, rescan.latest);
    this.#armAt(rescan.due);
  }

  #emitRescan(): void {
    const reason = this.#rescan!.reason;
    this.#rescan = undefined;
    this.emit('rescan', { reason });
  }

  #onError(error: unknown): void {
    if (this.#closed) return;
    const err = error as NodeJS.ErrnoException;
    if (isWatchLimit(err)) return void this.#fallBack(err);
    this.#log('warn', 'Folder watcher error; a full rescan follows', { code: err?.code, error: String(err?.message ?? err) });
    this.#requestRescan('error');
  }

  /** Out of inotify watches (or descriptors): stop watching, rescan periodically instead. */
  async #fallBack(err: NodeJS.ErrnoException): Promise<void> {
    if (this.#inner === undefined) return;
    const code = err.code ?? 'ENOSPC';
    this.#log('warn', LIMIT_MESSAGES[code] ?? LIMIT_MESSAGES.ENOSPC, { code, root: this.root });
    this.#clearTimers();
    this.#pending.clear();
    this.#rescan = undefined;
    await this.#closeInner();
    if (this.#closed) return;
    if (!this.#ready) this.#onReady();
    this.emit('rescan', { reason: 'watch_limit' });
    this.#armFallback();
  }

  #armFallback(): void {
    if (this.#closed || this.#fallbackRescanMs <= 0) return;
    this.#fallbackTimer = this.#timers.setTimeout(() => {
      this.#fallbackTimer = undefined;
      if (this.#closed) return;
      this.emit('rescan', { reason: 'periodic' });
      this.#armFallback();
    }, this.#fallbackRescanMs);
  }

  #onReady(): void {
    if (this.#ready || this.#closed) return;
    this.#ready = true;
    this.emit('ready');
  }

  #clearTimers(): void {
    this.#clearTimer();
    if (this.#fallbackTimer !== undefined) this.#timers.clearTimeout(this.#fallbackTimer);
    this.#fallbackTimer = undefined;
  }

  async #closeInner(): Promise<void> {
    const inner = this.#inner;
    this.#inner = undefined;
    if (!inner) return;
    try {
      const closing = inner.close(); // removes every listener…
      inner.on('error', () => {}); // …so a late error from a scan still in flight cannot crash the process
      await closing;
    } catch (error) {
      this.#log('debug', 'Closing the folder watcher failed', { error: String(error) });
    }
  }
}

/** True for a path with a `.nuvem` segment (the store's own metadata). */
function isReserved(rel: string): boolean {
  return rel.split('/').includes('.nuvem');
}

/** True when an error says the OS ran out of watches or descriptors. */
export function isWatchLimit(err: NodeJS.ErrnoException | undefined): boolean {
  if (!err) return false;
  if (err.code === 'ENOSPC' || err.code === 'EMFILE') return true;
  return /file watchers|watch limit|max_user_watches/i.test(String(err.message ?? ''));
}
