/**
 * `nuvem sync`: a two-way mirror between a local folder and a folder of the
 * cluster (DESIGN.md section 6), on the client library (node choice and
 * failover come from `createClient`).
 *
 * A pass plans with `planSync` (`sync_plan.ts`) from three snapshots, runs
 * the actions (`sync_exec.ts`) and saves each path's new base entry
 * (`sync_state.ts`):
 * - `full` (at start, after a gap in the change notices, after being
 *   offline, when `.nuvemignore` changes, every `fullSyncMs`): the whole
 *   folder scanned (`local_tree.ts`), the whole remote folder listed —
 *   or, at start, after being offline and after a gap, the remote side
 *   taken from the last synced state plus one node's change feed from the
 *   saved position (`sync_resume.ts`), when that node is reachable and its
 *   feed still reaches back that far.
 * - `live`: only the paths that changed — settled paths from the folder
 *   watcher, paths of change notices from `client.watch()` — plus what pairs
 *   with them (`sync_scope.ts`: ancestors, folder contents, the other half
 *   of a move).
 * Passes run one at a time; what changes meanwhile waits for the next one.
 *
 * Own writes do not echo. A download is placed with its new base entry
 * saved (size and mtime as placed), so when the watcher reports the path
 * the scan finds it unchanged. An upload's version goes into the remote view
 * (`remote_view.ts`) with its rank, so its notice is no news.
 *
 * @example
 * const client = createClient({ broker: 'mqtt://127.0.0.1:1883' });
 * const sync = new SyncFolder({ dir: '/home/me/Nuvem', client, remote: 'me' });
 * sync.on('change', (c) => console.log(c.direction, c.type, c.path));
 * await sync.start(); // the first reconcile is done; live from here
 * // … later
 * await sync.close();
 */
import { EventEmitter } from 'node:events';
import { readFile, mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { ChangeLog } from '../nodes/change_log.ts';
import { FolderWatcher, type Log } from '../nodes/folder_watcher.ts';
import type { ChangeMessage } from '../protocol/messages.ts';
import { collectGarbage } from './collect.ts';
import { compileIgnore, IGNORE_FILE, type IgnorePredicate } from './ignore_rules.ts';
import { hashInto, keepHash, rescanPaths, scanTree } from './local_tree.ts';
import type { NuvemClient } from './mod.ts';
import { normalizeRemote } from './paths.ts';
import { clusterCaughtUp, recordsOfChange, RemoteView, type RemoteRecord } from './remote_view.ts';
import { isOffline, listRemote, runActions, type ExecContext, type SyncChange } from './sync_exec.ts';
import { needsHash, planSync } from './sync_plan.ts';
import { changedPaths, expandScope, pairLocalRenames, restrict } from './sync_scope.ts';
import { markText, readMark, replayFeed, type FeedMark } from './sync_resume.ts';
import { STATE_FOLDER, SyncState } from './sync_state.ts';
import type { BaseEntry, LocalEntry, RemoteEntry } from './sync_types.ts';

export type { SyncChange } from './sync_exec.ts';

export interface SyncFolderOptions {
  /** The local folder (created if missing). */
  dir: string;
  client: NuvemClient;
  /** The remote folder it mirrors (default `''`, the root). */
  remote?: string;
  /** Names conflict copies (default: this machine's host name). */
  host?: string;
  /**
   * How long a local path must be unchanged (kind, size, mtime, inode) before
   * it syncs (default 150 ms, about half of what a small file takes to reach
   * the other side; a node's own folder watching waits a second). What is
   * sent is always one stable state of the file, checked: hashed, then
   * uploaded with that digest (`Content-Digest`), so a file that changes
   * during its upload is refused and planned again. A program that pauses
   * longer than this in the middle of writing a file may have the part
   * written so far synced first, then the whole file: the last state synced
   * is always the file as its writer left it.
   */
  settleMs?: number;
  /** A full reconcile this often while live, as a safety net (default 10 min; 0: never). */
  fullSyncMs?: number;
  log?: Log;
}

export type SyncStatus = 'starting' | 'syncing' | 'idle' | 'offline' | 'closed';

/** What one pass did. */
export interface PassSummary {
  kind: 'full' | 'live';
  /** Actions run (base bookkeeping included). */
  actions: number;
  /** Actions that failed (not retried until the next full pass). */
  failed: number;
  /** Paths still changing after every retry of the pass. */
  unsettled: number;
  offline: boolean;
  ms: number;
}

export interface SyncFolderEvents {
  /** The first full reconcile is done; live from here. */
  ready: [];
  status: [status: SyncStatus];
  /** One change made on either side, as written to the change log. */
  change: [change: SyncChange & { time: string }];
  /** A pass ended. */
  synced: [summary: PassSummary];
  /** An action failed; the mirror goes on. */
  error: [info: { path?: string; error: Error }];
}

/** The cluster could not be reached during a pass. */
class OfflineError extends Error {}

/** How many times a pass plans again the paths that moved on under it. */
const ROUNDS = 4;
const MAX_BACKOFF_MS = 30_000;
/** From this many entries on, a full pass collects garbage between its phases (`collect.ts`). */
const BIG = 20_000;

export class SyncFolder extends EventEmitter<SyncFolderEvents> {
  readonly dir: string;
  readonly remote: string;
  readonly #client: NuvemClient;
  readonly #host: string;
  readonly #settleMs: number;
  readonly #fullSyncMs: number;
  readonly #log: Log;
  readonly #abort = new AbortController();
  #state: SyncState | undefined;
  #changes: ChangeLog | undefined;
  #watcher: FolderWatcher | undefined;
  #ignore: IgnorePredicate = compileIgnore('');
  #ignoreText = '';
  #base = new Map<string, BaseEntry>();
  #local = new Map<string, LocalEntry>();
  readonly #view = new RemoteView();
  readonly #dirty = new Set<string>();
  #full = true;
  #status: SyncStatus = 'starting';
  #files = 0;
  #lastChange: (SyncChange & { time: string }) | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #watching: Promise<void> | undefined;
  #fullTimer: ReturnType<typeof setInterval> | undefined;
  #opened = false;
  /** Resolves `start()` once the first pass ran (or failed). */
  #firstPass: (() => void) | undefined;
  #ready = false;
  #idleWaiters: (() => void)[] = [];
  /** Full passes run again while the nodes have not applied each other's changes (a listing may have missed some). */
  #catchUp = 0;
  /** When notices were last missed (a gap, being offline, the start): listings stay suspect for a while. */
  #gapAt = 0;
  #catchUpTimer: ReturnType<typeof setTimeout> | undefined;
  /** The next full pass may take the remote side from the saved feed position instead of a listing. */
  #mayResume = true;
  /** The feed position the current full pass's remote side is complete up to: saved if the pass ends clean. */
  #mark: FeedMark | undefined;

  constructor(options: SyncFolderOptions) {
    super();
    this.dir = options.dir;
    this.remote = normalizeRemote(options.remote ?? '', { root: true });
    this.#client = options.client;
    this.#host = options.host ?? hostname();
    this.#settleMs = options.settleMs ?? 150;
    this.#fullSyncMs = options.fullSyncMs ?? 600_000;
    this.#log = options.log ?? (() => {});
  }

  get status(): SyncStatus {
    return this.#status;
  }

  /** Files in the last synced state. */
  get files(): number {
    return this.#files;
  }

  get lastChange(): (SyncChange & { time: string }) | undefined {
    return this.#lastChange;
  }

  /** Asks for a full reconcile (as at start): the whole folder scanned, the remote folder listed. */
  rescan(): void {
    this.#requestFull();
  }

  /** Resolves once no pass runs and nothing waits to be synced (a local change still settling is not counted). */
  idle(): Promise<void> {
    if (this.#status === 'idle' || this.#status === 'closed') {
      if (!this.#full && this.#dirty.size === 0) return Promise.resolve();
    }
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** One full reconcile (planned again where the world moved on), without going live. */
  async reconcile(): Promise<PassSummary> {
    await this.#open();
    return this.#fullPass();
  }

  /** Reconciles, then follows both sides until `close()`. Resolves once the first reconcile ran (or found the cluster offline). */
  async start(): Promise<void> {
    await this.#open();
    this.#watcher = new FolderWatcher({
      root: this.dir,
      settleMs: this.#settleMs,
      batchMs: Math.min(50, Math.round(this.#settleMs / 4)),
      ignore: (rel) => rel.split('/').includes(STATE_FOLDER),
      log: this.#log,
    });
    this.#watcher.on('settled', ({ paths }) => this.#onLocal(paths));
    this.#watcher.on('rescan', ({ reason }) => {
      this.#log('info', 'Rescanning the whole folder', { reason });
      this.#requestFull();
    });
    await new Promise<void>((resolve) => this.#watcher!.once('ready', resolve));
    this.#watching = this.#watchRemote();
    if (this.#fullSyncMs > 0) {
      this.#fullTimer = setInterval(() => this.#requestFull(), this.#fullSyncMs);
      this.#fullTimer.unref?.();
    }
    const first = new Promise<void>((resolve) => (this.#firstPass = resolve));
    this.#loop = this.#run();
    await first;
  }

  /** Stops watching, lets the running action end (or aborts it), saves the state. */
  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#setStatus('closed');
    this.#abort.abort();
    this.#firstPass?.();
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    clearInterval(this.#fullTimer);
    clearTimeout(this.#catchUpTimer);
    this.#wake?.();
    await this.#watcher?.close();
    await this.#loop?.catch(() => {});
    await this.#watching?.catch(() => {});
    this.#state?.close();
    await this.#changes?.close();
  }

  // --- setup

  async #open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    await mkdir(this.dir, { recursive: true });
    this.#state = SyncState.open(this.dir);
    const bound = this.#state.meta('remote');
    if (bound !== undefined && bound !== this.remote) {
      this.#state.close();
      throw new Error(`Cannot sync ${this.dir} with remote folder "${this.remote || '/'}": it is synced with "${bound || '/'}" ` +
        `(delete ${join(this.dir, STATE_FOLDER)} to start over)`);
    }
    this.#state.setMeta('remote', this.remote);
    this.#base = this.#state.load();
    if (this.#base.size >= BIG) collectGarbage();
    for (const e of this.#base.values()) if (e.kind === 'file') this.#files++;
    await rm(this.#tmpDir(), { recursive: true, force: true });
    await mkdir(this.#tmpDir(), { recursive: true });
    this.#changes = new ChangeLog({ folder: join(this.dir, STATE_FOLDER), log: this.#log });
    await this.#readIgnore();
  }

  #tmpDir(): string {
    return join(this.dir, STATE_FOLDER, 'tmp');
  }

  async #readIgnore(): Promise<void> {
    let text = '';
    try {
      text = await readFile(join(this.dir, IGNORE_FILE), 'utf8');
    } catch {
      // no rules
    }
    this.#ignore = compileIgnore(text);
    this.#ignoreText = text;
  }

  // --- inputs

  #onLocal(paths: string[]): void {
    this.#log('debug', 'Local changes settled', { paths: paths.length, path: paths[0] });
    for (const path of paths) this.#dirty.add(path);
    if (paths.includes(IGNORE_FILE)) this.#requestFull();
    this.#wake?.();
  }

  #onRemote(change: ChangeMessage): void {
    this.#log('debug', 'Change notice', { path: change.path, op: change.op, origin: change.origin, seq: change.seq });
    for (const [path, record] of recordsOfChange(this.remote, change)) if (this.#view.apply(path, record)) this.#dirty.add(path);
    this.#wake?.();
  }

  /** Notices may have been missed: catch up now (feed or listing), and again until the nodes have caught up with each other. */
  #gap(): void {
    this.#gapAt = Date.now();
    this.#catchUp = 0;
    this.#requestFull({ resume: true });
  }

  /** Asks for a full pass; `resume`: its remote side may come from the saved feed position. */
  #requestFull(options: { resume?: boolean } = {}): void {
    if (!this.#full) this.#mayResume = options.resume === true;
    else if (options.resume !== true) this.#mayResume = false;
    this.#full = true;
    this.#wake?.();
  }

  /** Follows change notices (or a node's feed); a gap in them, or losing them, means a full pass. */
  async #watchRemote(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        await this.#client.watch((c) => this.#onRemote(c), {
          signal,
          onGap: (reason) => {
            this.#log('info', 'Change notices may have been missed; listing the remote folder again', { reason });
            this.#gap();
          },
        });
      } catch (err) {
        if (signal.aborted) return;
        this.#log('warn', 'Cannot follow the cluster\'s changes; trying again', { error: (err as Error).message });
        this.#gap();
        await pause(1000, signal);
      }
    }
  }

  // --- passes

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let backoff = 0;
    while (!signal.aborted) {
      try {
        if (this.#full) {
          this.#full = false;
          this.#dirty.clear();
          await this.#fullPass();
        } else if (this.#dirty.size > 0) {
          const paths = [...this.#dirty];
          this.#dirty.clear();
          await this.#livePass(paths);
        } else {
          this.#setStatus('idle');
          for (const resolve of this.#idleWaiters.splice(0)) resolve();
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        backoff = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof OfflineError) {
          this.#setStatus('offline');
          backoff = Math.min(MAX_BACKOFF_MS, backoff === 0 ? 1000 : backoff * 2);
          this.#log('warn', 'The cluster cannot be reached; trying again', { error: err.message, retryInMs: backoff });
        } else {
          backoff = 5000;
          this.#log('error', 'A sync pass failed; trying again', { error: (err as Error).message });
          this.emit('error', { error: err as Error });
        }
        this.#gapAt = Date.now(); // what happened meanwhile is not known
        this.#full = true;
        this.#mayResume = err instanceof OfflineError;
        this.#firstPass?.();
        await pause(backoff, signal);
      }
    }
  }

  async #fullPass(): Promise<PassSummary> {
    const started = performance.now();
    this.#setStatus('syncing');
    const signal = this.#abort.signal;
    await this.#readIgnore();
    const resume = this.#mayResume;
    this.#mayResume = false;
    const resumed = resume && await this.#resume();
    if (!resumed) {
      this.#mark = await this.#markFeed();
      let listing;
      try {
        listing = await listRemote(this.#client, { root: this.remote, base: this.#base, signal });
      } catch (err) {
        if (isOffline(err)) throw new OfflineError((err as Error).message, { cause: err });
        throw err;
      }
      this.#view.replace(listing);
    }
    if (this.#base.size >= BIG) collectGarbage();
    const listed = performance.now();
    this.#memory('remote side known');
    // Only hashes the base does not hold are worth keeping across the scan; the old map goes before the new one is built.
    const hashed = new Map<string, LocalEntry>();
    for (const [path, entry] of this.#local) if (entry.sha256 !== undefined && this.#base.get(path)?.sha256 !== entry.sha256) hashed.set(path, entry);
    this.#local = new Map();
    const scanned = await scanTree(this.dir, { ignore: this.#ignore, onSkip: this.#onSkip });
    const phases = { [resumed ? 'feedMs' : 'listMs']: Math.round(listed - started), scanMs: Math.round(performance.now() - listed) };
    for (const [path, entry] of hashed) {
      const now = scanned.get(path);
      if (now) keepHash(now, entry);
    }
    this.#local = scanned;
    if (scanned.size >= BIG) collectGarbage();
    this.#memory('local folder scanned');
    const changed = changedPaths({ local: this.#local, remote: this.#view.entries, base: this.#base }, this.#ignore);
    // Most paths changed (a first pass, a folder synced anew): planning everything takes no copies of the maps.
    const everything = changed.length * 2 > Math.max(this.#local.size, this.#view.entries.size, this.#base.size);
    const summary = await this.#planAndRun('full', everything ? undefined : changed, started, phases);
    this.#state!.setMeta('lastFullSync', new Date().toISOString());
    let newest = '';
    for (const e of this.#view.entries.values()) if (e.version > newest) newest = e.version;
    if (newest !== '') this.#state!.setMeta('newestVersion', newest);
    this.#firstPass?.();
    const caughtUp = await this.#checkCaughtUp();
    if (caughtUp && this.#mark && summary.failed === 0 && summary.unsettled === 0 && !signal.aborted) {
      this.#state!.flush();
      this.#state!.setMeta('feed', markText(this.#mark, { ignore: this.#ignoreText }));
    }
    this.#mark = undefined;
    if (!this.#ready) {
      this.#ready = true;
      this.emit('ready');
    }
    return summary;
  }

  /**
   * After notices were missed (a broker outage, being offline), a listing may
   * come from a node that has not applied everything yet, and nothing will
   * announce what it lacked. So the folder is listed again every 2 s until
   * every online node holds every other's last change, as their statuses
   * say, and those statuses are fresh (5 s after the gap); at most 30 times.
   */
  async #checkCaughtUp(): Promise<boolean> {
    let nodes;
    try {
      nodes = await this.#client.nodes();
    } catch {
      return false;
    }
    if (clusterCaughtUp(nodes) && Date.now() - this.#gapAt > 5000) {
      this.#catchUp = 0;
      return true;
    }
    if (this.#loop === undefined || ++this.#catchUp > 30) return false;
    clearTimeout(this.#catchUpTimer);
    this.#catchUpTimer = setTimeout(() => this.#requestFull({ resume: true }), 2000);
    this.#catchUpTimer.unref?.();
    return false;
  }

  /**
   * The remote side from the saved feed position (`sync_resume.ts`): at
   * start the view is seeded from the last synced state; later (a gap,
   * back from offline) the feed's changes go on top of the view as it is.
   * False when the folder must be listed instead (logged with the reason).
   */
  async #resume(): Promise<boolean> {
    const { mark, reason } = readMark(this.#state!.meta('feed'), { ignore: this.#ignoreText });
    if (!mark) {
      this.#log('debug', 'Listing the remote folder', { reason });
      return false;
    }
    const records: [string, RemoteRecord][] = [];
    const replay = await replayFeed(this.#client, {
      mark,
      signal: this.#abort.signal,
      apply: (change) => {
        for (const pair of recordsOfChange(this.remote, change)) records.push(pair);
      },
    });
    if (!replay.ok) {
      this.#log('info', 'Listing the remote folder', { reason: replay.reason });
      return false;
    }
    if (this.#view.empty) this.#view.seed(this.#base);
    for (const [path, record] of records) this.#view.apply(path, record);
    this.#mark = replay.mark;
    this.#log('info', 'Resumed from the saved position in a change feed', { node: mark.node, from: mark.cursor, to: replay.mark.cursor, changes: replay.changes });
    return true;
  }

  /** The current end of the feed of the node this client reads from (undefined when it cannot be had). */
  async #markFeed(): Promise<FeedMark | undefined> {
    try {
      return await this.#client.feedEnd({ signal: this.#abort.signal });
    } catch (err) {
      if (this.#abort.signal.aborted) throw err;
      this.#log('debug', 'Cannot read the end of a change feed; the next start will list the folder', { error: (err as Error).message });
      return undefined;
    }
  }

  async #livePass(paths: string[]): Promise<PassSummary> {
    const started = performance.now();
    this.#setStatus('syncing');
    if (paths.includes(IGNORE_FILE)) await this.#readIgnore();
    await this.#rescanLocal(paths);
    return this.#planAndRun('live', paths, started);
  }

  #rescanLocal(paths: readonly string[]): Promise<void> {
    return rescanPaths(this.dir, { local: this.#local, paths, ignore: this.#ignore, onSkip: this.#onSkip });
  }

  /** Plans the paths in `dirty` (everything when undefined), runs the plan, and plans again what moved on meanwhile. */
  async #planAndRun(kind: 'full' | 'live', dirty: readonly string[] | undefined, started: number, phases: object = {}): Promise<PassSummary> {
    const summary: PassSummary = { kind, actions: 0, failed: 0, unsettled: 0, offline: false, ms: 0 };
    let scope: Set<string> | undefined = dirty === undefined ? undefined : this.#scopeOf(dirty);
    for (let round = 0; round < ROUNDS; round++) {
      const remote = this.#visible(this.#view.entries, scope);
      let base = this.#visible(this.#base, scope);
      let lost: Map<string, BaseEntry> | undefined;
      for (const [path, b] of base) {
        // This mirror's write lost to one made from the same base elsewhere: the local file is an edit of its own.
        // (A base that no content matches, and no mtime either, so the file is hashed and reads as changed.)
        if (this.#view.lostWrite(path, b)) (lost ??= new Map()).set(path, { ...b, sha256: `lost:${b.sha256}`, mtimeMs: -1 });
      }
      if (lost) base = new Map([...base, ...lost]);
      let local = scope === undefined ? this.#local : restrict(this.#local, scope);
      const unhashed = needsHash(local, base);
      if (unhashed.length > 0) {
        await hashInto(this.dir, this.#local, unhashed);
        local = scope === undefined ? this.#local : restrict(this.#local, scope);
        if (unhashed.length >= BIG) collectGarbage(); // what hashing 20 000 files and more left behind, before the planner's maps
      }
      const actions = pairLocalRenames(planSync({ local, remote, base }, { host: this.#host, date: new Date() }), this.#base);
      this.#memory('planned', { actions: actions.length });
      if (actions.length === 0) break;
      if (actions.length >= BIG) collectGarbage(); // the planner's sets and sorted copies, before the base grows
      const result = await runActions(this.#ctx(), actions);
      this.#state!.flush();
      this.#memory('actions run');
      summary.actions += result.done;
      summary.failed += result.failed.length;
      for (const f of result.failed) {
        this.#log('error', `Cannot sync "${f.path}"`, { path: f.path, error: f.error.message });
        this.emit('error', { path: f.path, error: f.error });
      }
      if (this.#abort.signal.aborted) break;
      if (result.offline) {
        for (const p of result.pending) this.#dirty.add(p);
        throw new OfflineError(result.offline.message, { cause: result.offline });
      }
      if (result.replan.size === 0) break;
      this.#log('debug', 'Planning again paths that changed meanwhile', { paths: result.replan.size });
      if (round === ROUNDS - 1) {
        summary.unsettled = result.replan.size;
        for (const p of result.replan) this.#dirty.add(p);
        break;
      }
      await this.#rescanLocal([...result.replan]);
      scope = this.#scopeOf([...result.replan]);
    }
    summary.ms = Math.round(performance.now() - started);
    this.#log(summary.actions > 0 || summary.failed > 0 ? 'info' : 'debug', `Sync pass done`, { ...summary, ...phases });
    this.emit('synced', summary);
    return summary;
  }

  /** A debug line with the process's resident memory (`nuvem sync -v`): where a big pass peaks. */
  #memory(phase: string, fields: object = {}): void {
    if (this.#local.size + this.#base.size < BIG) return;
    this.#log('debug', 'Memory', { phase, rssMiB: Math.round(process.memoryUsage.rss() / 1048576), ...memoryFields(), ...fields });
  }

  #scopeOf(paths: readonly string[]): Set<string> {
    return expandScope(paths, { local: this.#local, remote: this.#view.entries, base: this.#base });
  }

  /** Entries of `map` (within `scope`) that the ignore rules let through. */
  #visible<T extends RemoteEntry | BaseEntry>(map: ReadonlyMap<string, T>, scope: Set<string> | undefined): ReadonlyMap<string, T> {
    const source = scope === undefined ? map : restrict(map, scope);
    const hidden: string[] = [];
    for (const [path, entry] of source) if (this.#ignore(path, entry.kind === 'folder')) hidden.push(path);
    if (hidden.length === 0) return source; // no copy of 100 000 entries when nothing is left out
    const out = new Map(source);
    for (const path of hidden) out.delete(path);
    return out;
  }

  #ctx(): ExecContext {
    return {
      root: this.dir,
      remoteRoot: this.remote,
      client: this.#client,
      tmpDir: this.#tmpDir(),
      local: this.#local,
      view: this.#view,
      base: this.#base,
      setBase: (path, entry) => this.#setBase(path, entry),
      record: (change) => this.#record(change),
      log: this.#log,
      signal: this.#abort.signal,
    };
  }

  #setBase(path: string, entry: BaseEntry | undefined): void {
    const before = this.#base.get(path);
    if (before?.kind === 'file') this.#files--;
    if (entry?.kind === 'file') this.#files++;
    if (entry) this.#base.set(path, entry);
    else this.#base.delete(path);
    this.#state!.set(path, entry);
  }

  #record(change: SyncChange): void {
    const time = new Date().toISOString();
    this.#changes!.append({ time, ...change, source: 'sync' });
    this.#lastChange = { time, ...change };
    this.emit('change', this.#lastChange);
    if (change.path === IGNORE_FILE && change.direction === 'down') this.#requestFull();
  }

  readonly #onSkip = (path: string, reason: string) => {
    if (this.#skipped.has(path)) return;
    this.#skipped.add(path);
    this.#log('warn', `Not syncing "${path}": ${reason}`, { path });
  };

  readonly #skipped = new Set<string>();

  #setStatus(status: SyncStatus): void {
    if (this.#status === status || this.#status === 'closed') return;
    this.#status = status;
    this.emit('status', status);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

function memoryFields(): Record<string, number> {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round(n / 1048576);
  return { heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers) };
}
