/**
 * A watcher of a whole tree that holds one inotify watch per folder, not per
 * file: the shape `FolderWatcher` needs from chokidar (`ChokidarLike`), built
 * on `node:fs` `watch()` of each folder.
 *
 * Why not chokidar itself: on Linux chokidar opens an `fs.watch` for every
 * file as well as every folder. A synced folder of 100 000 files then takes
 * 100 000 of the user's inotify watches (`fs.inotify.max_user_watches`, often
 * 8 192 to 200 000, shared by every program of the user), about 600 MiB of
 * memory, and minutes to set up. A folder's watch already reports what
 * happens to the files in it (created, written, attributes, deleted, moved),
 * so that is all this one holds: 100 folders, 100 watches.
 *
 * Events carry no meaning beyond "look at this path" (`all` with event
 * `change` and the absolute path): `FolderWatcher` lstats each path until it
 * settles. A folder that appears (created, or moved in with its contents) is
 * walked, watched, and everything in it reported; a watched folder that is
 * gone (deleted, moved away) loses its watches. A watch that cannot be
 * placed (the inotify limit: `ENOSPC`, `EMFILE`) is an `error`, as is an
 * event without a name, so the consumer rescans.
 *
 * @example
 * const inner = watchFolders('/data/files', { ignored: (p) => p.endsWith('.tmp') });
 * inner.on('all', (_event, path) => console.log('look at', path));
 * inner.on('ready', () => console.log('watching'));
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { lstatSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { ChokidarLike } from './folder_watcher.ts';

export interface FolderTreeWatcherOptions {
  /** Absolute paths to leave out (a folder left out is not descended into). */
  ignored?: (path: string) => boolean;
}

/** Watches `root` (an absolute path) and every folder under it; see the module comment. */
export function watchFolders(root: string, options: FolderTreeWatcherOptions = {}): ChokidarLike {
  return new FolderTreeWatcher(root, options);
}

class FolderTreeWatcher implements ChokidarLike {
  readonly #root: string;
  readonly #ignored: (path: string) => boolean;
  readonly #events = new EventEmitter();
  /** Absolute folder path → its watch. */
  readonly #watches = new Map<string, FSWatcher>();
  #closed = false;

  constructor(root: string, options: FolderTreeWatcherOptions) {
    this.#root = root;
    this.#ignored = options.ignored ?? (() => false);
    queueMicrotask(() => void this.#start());
  }

  on(event: 'all', listener: (event: string, path: string) => void): this;
  on(event: 'error', listener: (error: unknown) => void): this;
  on(event: 'ready', listener: () => void): this;
  on(event: string, listener: (...args: never[]) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#watches.values()) w.close();
    this.#watches.clear();
    this.#events.removeAllListeners();
  }

  async #start(): Promise<void> {
    try {
      await this.#watchTree(this.#root, { report: false });
    } catch (err) {
      this.#error(err);
    }
    if (!this.#closed) this.#events.emit('ready');
  }

  #error(err: unknown): void {
    if (this.#closed) return;
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', err);
  }

  /** Watches `folder` and every folder under it; `report`: also tell about every path found (it just appeared). */
  async #watchTree(folder: string, options: { report: boolean }): Promise<void> {
    const stack = [folder];
    while (stack.length > 0 && !this.#closed) {
      const dir = stack.pop()!;
      if (this.#watches.has(dir)) continue;
      if (!this.#add(dir)) continue;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') {
          this.#remove(dir);
          continue;
        }
        if (code === 'EACCES' || code === 'EPERM') continue;
        throw err;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (this.#ignored(path)) continue;
        if (options.report) this.#events.emit('all', 'add', path);
        if (entry.isDirectory()) stack.push(path);
      }
    }
  }

  /** Places the watch of one folder; false when it is gone (or the watch could not be placed, reported as an error). */
  #add(dir: string): boolean {
    if (this.#closed) return false;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true }, (_type, name) => this.#onEvent(dir, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      this.#error(err);
      return false;
    }
    w.on('error', (err) => {
      this.#remove(dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#error(err);
    });
    this.#watches.set(dir, w);
    return true;
  }

  /** Closes the watches of `dir` and of every folder under it. */
  #remove(dir: string): void {
    const prefix = dir + sep;
    for (const [path, w] of this.#watches) {
      if (path !== dir && !path.startsWith(prefix)) continue;
      w.close();
      this.#watches.delete(path);
    }
  }

  #onEvent(dir: string, name: string | Buffer | null): void {
    if (this.#closed) return;
    if (name === null || name === undefined) {
      this.#error(Object.assign(new Error(`A change in ${dir} came without a name`), { code: 'EUNKNOWN' }));
      return;
    }
    const path = join(dir, name.toString());
    if (this.#ignored(path)) return;
    this.#events.emit('all', 'change', path);
    void this.#follow(path);
  }

  /** Keeps the watches in step with a path that changed: a new folder is watched (and its contents reported), a gone one unwatched. */
  async #follow(path: string): Promise<void> {
    let isDir = false;
    try {
      isDir = lstatSync(path).isDirectory(); // synchronous: see FolderWatcher's #signature
    } catch {
      // gone
    }
    if (this.#closed) return;
    if (!isDir) {
      if (this.#watches.has(path)) this.#remove(path);
      return;
    }
    if (this.#watches.has(path)) return;
    try {
      await this.#watchTree(path, { report: true });
    } catch (err) {
      this.#error(err);
    }
  }
}
