/**
 * Start-up check of the files folder against the index. Plans are pure;
 * `reconcile` carries them out through the commit pipeline. A file whose
 * size, mtime or inode differs from its record is re-hashed (a changed hash
 * becomes a new version); a file the index does not know becomes a new
 * version; a record whose file vanished becomes a tombstone. So a crash, or
 * an edit made while the node was down, is never silently lost.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Pending } from './commit_pipeline.ts';
import { exists, hashFile } from './disk.ts';
import { type Entry, publicRecord } from './index_db.ts';
import { parsePath } from '../protocol/paths.ts';
import { DEFAULT_CONTENT_TYPE, type LocalStat } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';

export interface OnDisk {
  files: Map<string, LocalStat>;
  /** Every folder, and those of them that hold nothing. */
  folders: Set<string>;
  emptyFolders: Set<string>;
  /** Names that are not valid paths, left alone. */
  skipped: string[];
}

export interface RecoveryPlan {
  /** Records whose file or folder is gone. */
  vanished: Entry[];
  /** Files to hash: changed behind the index's back, or unknown to it. */
  rehash: { path: string; stat: LocalStat; known?: Entry }[];
  /** Empty folders on disk without a record. */
  newFolders: string[];
}

/** Walks the files folder (no symlinks followed). */
export async function scanDisk(filesDir: string): Promise<OnDisk> {
  const out: OnDisk = { files: new Map(), folders: new Set(), emptyFolders: new Set(), skipped: [] };
  const walk = async (rel: string): Promise<number> => {
    const dirents = await fsp.readdir(join(filesDir, rel), { withFileTypes: true });
    let live = 0;
    for (const d of dirents) {
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      let valid: string;
      try {
        valid = parsePath(path);
      } catch {
        out.skipped.push(path);
        continue;
      }
      if (valid !== path) {
        out.skipped.push(path);
        continue;
      }
      if (d.isDirectory()) {
        live++;
        out.folders.add(path);
        if ((await walk(path)) === 0) out.emptyFolders.add(path);
      } else if (d.isFile()) {
        live++;
        const st = await fsp.stat(join(filesDir, path));
        out.files.set(path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      }
    }
    return live;
  };
  await walk('');
  return out;
}

export function planRecovery(entries: Iterable<Entry>, disk: OnDisk): RecoveryPlan {
  const plan: RecoveryPlan = { vanished: [], rehash: [], newFolders: [] };
  const known = new Set<string>();
  for (const e of entries) {
    if (e.deleted) continue;
    known.add(e.path);
    if (e.type === 'folder') {
      if (!disk.folders.has(e.path)) plan.vanished.push(e);
      continue;
    }
    const stat = disk.files.get(e.path);
    if (!stat) plan.vanished.push(e);
    else if (!e.local || stat.size !== e.local.size || stat.mtimeMs !== e.local.mtimeMs || stat.ino !== e.local.ino) {
      plan.rehash.push({ path: e.path, stat, known: e });
    }
  }
  for (const [path, stat] of disk.files) if (!known.has(path)) plan.rehash.push({ path, stat });
  for (const path of disk.emptyFolders) if (!known.has(path)) plan.newFolders.push(path);
  return plan;
}

/**
 * Reconciles the files folder with the index at start-up: changed or unknown
 * files become new versions, vanished ones tombstones, unknown empty folders
 * folders. Returns the paths that changed and the names left alone.
 */
export async function reconcile(ctx: StoreContext): Promise<{ changed: string[]; skipped: string[] }> {
  const { index, layout, commits } = ctx;
  const disk = await scanDisk(layout.filesDir);
  const plan = planRecovery(index.all(), disk);
  const changed: string[] = [];
  for (const e of plan.vanished) {
    const tombstone = ctx.newRecord(e.path, { type: e.type, size: 0, sha256: '', contentType: '' });
    tombstone.deleted = true;
    tombstone.prev = e.version;
    const pending: Pending = { changes: [{ ...tombstone, op: 'delete' }], put: [{ record: tombstone }], revisions: [] };
    if (e.type === 'file' && (await exists(layout.revPath(e)))) pending.revisions.push(publicRecord(e));
    await commits.commit(pending);
    changed.push(e.path);
  }
  for (const { path, stat, known } of plan.rehash) {
    const sha256 = await hashFile(layout.filePath(path));
    if (known && known.sha256 === sha256 && known.size === stat.size) {
      await commits.commit({ changes: [], put: [{ record: publicRecord(known), local: stat }], revisions: [] });
      continue;
    }
    const contentType = known?.contentType ?? DEFAULT_CONTENT_TYPE;
    const record = ctx.newRecord(path, { type: 'file', size: stat.size, sha256, contentType });
    const pending: Pending = { changes: [{ ...record, op: 'put', prev: known?.version }], put: [{ record, local: stat }], revisions: [] };
    if (known && (await exists(layout.revPath(known)))) pending.revisions.push(publicRecord(known));
    await commits.commit(pending);
    changed.push(path);
  }
  for (const path of plan.newFolders) {
    const record = ctx.newRecord(path, { type: 'folder', size: 0, sha256: '', contentType: '' });
    await commits.commit({ changes: [{ ...record, op: 'mkcol' }], put: [{ record }], revisions: [] });
    changed.push(path);
  }
  return { changed, skipped: disk.skipped };
}
