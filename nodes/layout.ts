/**
 * The store's files on disk: current files as a plain tree under DATA/files/,
 * kept revisions as hard links under DATA/.nuvem/revs/ (by SHA-256 and
 * version), upload temp files under DATA/.nuvem/tmp/. Renames, links and
 * unlinks run in place (metadata only): each change records the folders it
 * touched, and they are fsynced together before the index commits
 * (commit_pipeline.ts).
 */
import { linkSync, lstatSync, promises as fsp, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { diskError, makeFolders, removeEmptyFolders, Syncer } from './disk.ts';
import { BLOB_MAX, publicRecord, type Entry, type IndexDb } from './index_db.ts';
import { conflict } from '../protocol/errors.ts';
import type { FileRecord } from '../protocol/record.ts';

/**
 * What a change notes of its disk work: the folders to fsync before its
 * commit, the replaced versions kept, and how to put the files back if the
 * commit fails (commit_pipeline.ts runs `undo` newest first).
 */
export interface DiskWork {
  syncDirs?: string[];
  revisions: FileRecord[];
  undo?: (() => void)[];
}

/** Creates the store's metadata folders in `dataDir` and empties its temp folder (the files folder: volume.ts). */
export async function prepareFolders(dataDir: string): Promise<void> {
  const metaDir = join(dataDir, '.nuvem');
  await fsp.rm(join(metaDir, 'tmp'), { recursive: true, force: true });
  await fsp.mkdir(join(metaDir, 'tmp'), { recursive: true });
  await fsp.mkdir(join(metaDir, 'revs'), { recursive: true });
}

export class Layout {
  readonly filesDir: string;
  readonly metaDir: string;
  readonly tmpDir: string;
  readonly revsDir: string;
  /** fsyncs by path (folders, the index's write-ahead log), one at a time per path. */
  readonly syncer = new Syncer();
  readonly #index: IndexDb;
  #moving?: { from: string; to: string };
  /** Folders under files/ known to exist (cleared whenever folders are removed). */
  readonly #knownDirs = new Set<string>();

  constructor(options: { dataDir: string; index: IndexDb }) {
    this.filesDir = join(options.dataDir, 'files');
    this.metaDir = join(options.dataDir, '.nuvem');
    this.tmpDir = join(this.metaDir, 'tmp');
    this.revsDir = join(this.metaDir, 'revs');
    this.#index = options.index;
  }

  /**
   * Where `path`'s file sits. While a folder move is between its rename and
   * its last index commit (folder_move.ts), an entry the index still names
   * under the old path sits under the new one.
   */
  filePath(path: string): string {
    const m = this.#moving;
    if (m && (path === m.from || path.startsWith(m.from + '/'))) return join(this.filesDir, m.to + path.slice(m.from.length));
    return join(this.filesDir, path);
  }

  /** A folder moved on disk whose entries the index moves in batches (undefined: none). */
  movingFolder(move: { from: string; to: string } | undefined): void {
    this.#moving = move;
  }

  revPath(record: Pick<FileRecord, 'sha256' | 'version'>): string {
    return join(this.revsDir, record.sha256.slice(0, 2), `${record.sha256}-${record.version}`);
  }

  /** A file on this node holding content with this SHA-256, if any. */
  contentFile(sha256: string): string | undefined {
    const found = this.#index.findContent(sha256);
    if (!found) return undefined;
    return 'path' in found ? this.filePath(found.path) : this.revPath(found.revision);
  }

  /** Moves a file (a temp file, or one being moved) to path `to`; its folder is fsynced at commit. */
  async place(source: string, options: { to: string; pending: DiskWork }): Promise<void> {
    const { pending } = options;
    const dest = this.filePath(options.to);
    try {
      await this.makeParent(dest, pending);
      // In place, like link and unlink below: metadata only, no wait for the disk (durable at the folder fsync).
      renameSync(source, dest);
      // Undone: a temp file's bytes are dropped, a moved file goes back (the replaced one is restored by retire's undo).
      (pending.undo ??= []).push(dirname(source) === this.tmpDir ? () => unlinkSync(dest) : () => renameSync(dest, source));
      (pending.syncDirs ??= []).push(dirname(dest));
      if (dirname(source) !== this.tmpDir) pending.syncDirs.push(dirname(source));
    } catch (err) {
      throw diskError(err);
    }
  }

  /** Renames the folder at path `from`, with its subtree, to path `to`; both parents are fsynced at commit. */
  async placeFolder(from: string, options: { to: string; pending: DiskWork; onRenamed?: () => void }): Promise<void> {
    const { pending } = options;
    const src = this.filePath(from);
    const dest = this.filePath(options.to);
    try {
      await this.makeParent(dest, pending);
      // Synchronous, and `onRenamed` in the same turn: no request runs between the rename and what the caller
      // switches with it (folder_move.ts: where reads look). With an awaited rename, a GET landing between the two
      // found the file neither at its old place nor at its new path: 404 (move_yield.test.ts, once in six CI runs).
      renameSync(src, dest);
      options.onRenamed?.();
      (pending.undo ??= []).push(() => {
        renameSync(dest, src);
        this.#knownDirs.clear();
      });
      this.#knownDirs.clear(); // folders under `src` are gone
      pending.syncDirs = [...(pending.syncDirs ?? []), dirname(src), dirname(dest)];
    } catch (err) {
      throw diskError(err);
    }
  }

  /**
   * Refuses a path whose folders, within the files folder, include a
   * symbolic link: the node never writes or reads through one (a link to
   * /etc planted in the files folder must not make a PUT write there).
   */
  async refuseLinks(file: string): Promise<void> {
    if (!file.startsWith(this.filesDir + '/')) return;
    const parts = file.slice(this.filesDir.length + 1).split('/');
    let dir = this.filesDir;
    for (const part of parts.slice(0, -1)) {
      dir = join(dir, part);
      const st = await fsp.lstat(dir).catch(() => undefined);
      if (st === undefined) return; // made below, by this node
      if (st.isSymbolicLink()) throw conflict(`"${dir.slice(this.filesDir.length + 1)}" is a symbolic link in the files folder; Nuvem does not follow links`);
    }
  }

  /** Folders seen since may have been replaced (the watcher saw changes): check them again. */
  forgetFolders(): void {
    this.#knownDirs.clear();
  }

  /** Creates the folder holding `file` (fsynced at commit), unless it is known to exist. */
  async makeParent(file: string, pending: DiskWork): Promise<void> {
    const dir = dirname(file);
    if (this.#knownDirs.has(dir)) return;
    await this.refuseLinks(file);
    const created = await makeFolders(dir);
    (pending.syncDirs ??= []).push(...created);
    if (this.#knownDirs.size > 10_000) this.#knownDirs.clear();
    this.#knownDirs.add(dir);
  }

  /**
   * Keeps the content of a record that is being replaced as a revision:
   * hard-links it into revs/ (the path's file is replaced or removed next).
   */
  async retire(live: Entry, pending: DiskWork): Promise<void> {
    if (live.type !== 'file') return;
    if (live.size <= BLOB_MAX && this.#index.hasBlob(live.sha256)) {
      // Its bytes are in the index (small_files.ts): the revision keeps them there, no link, no folder flush.
      // Undone: its plain file, removed or replaced by this change, is written again from the index.
      (pending.undo ??= []).push(() => {
        const file = this.filePath(live.path);
        const bytes = this.#index.blob(live.sha256);
        if (bytes && !lexists(file)) writeFileSync(file, bytes);
      });
      pending.revisions.push(publicRecord(live));
      return;
    }
    const target = this.revPath(live);
    let linked = false;
    try {
      await this.makeParent(target, pending);
      linkSync(this.filePath(live.path), target);
      linked = true;
      (pending.syncDirs ??= []).push(dirname(target));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT') return; // gone behind our back: nothing to keep
      if (code !== 'EEXIST') throw diskError(err);
    }
    (pending.undo ??= []).push(() => restore(target, this.filePath(live.path), { linked }));
    pending.revisions.push(publicRecord(live));
  }

  /**
   * Removes the folders a removal left empty, up to the first one that is a
   * folder in its own right (made with MKCOL), and forgets them as known.
   */
  async prune(dir: string): Promise<void> {
    const removed = await removeEmptyFolders(dir, {
      stop: this.filesDir,
      keep: (d) => {
        const e = this.#index.get(d.slice(this.filesDir.length + 1));
        return e !== undefined && !e.deleted && e.type === 'folder';
      },
    });
    if (removed.length === 0) return;
    this.#knownDirs.clear();
    await this.syncer.sync(dirname(removed[removed.length - 1]));
  }

  /** fsyncs each of `dirs` once, all at once. */
  async syncFolders(dirs: string[] | undefined): Promise<void> {
    await Promise.all([...new Set(dirs)].map((d) => this.syncer.sync(d)));
  }

  /**
   * Removes the content of a revision the index pruned: unlink(2) in place
   * (rmSync would lstat first). Called after the index commit, so a failure
   * must not fail the write: the file is only left behind, taking space.
   */
  dropRevision(record: Pick<FileRecord, 'sha256' | 'version'>): void {
    try {
      unlinkSync(this.revPath(record));
    } catch { /* gone already, or left behind */ }
  }
}

/**
 * Puts a retired version back at its path after a failed commit (the new
 * file, if any, is gone by then): links it back unless something is there,
 * and drops the revision link this change made once the path holds its inode.
 */
function restore(rev: string, file: string, options: { linked: boolean }): void {
  try {
    linkSync(rev, file);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
  if (options.linked && statSync(file).ino === statSync(rev).ino) unlinkSync(rev);
}

function lexists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}
