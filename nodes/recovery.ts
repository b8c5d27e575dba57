/**
 * Start-up check of the files folder against the index. Plans are pure; the
 * store carries them out. A file whose size, mtime or inode differs from its
 * record is re-hashed (a changed hash becomes a new version); a file the index
 * does not know becomes a new version; a record whose file vanished becomes a
 * tombstone. So a crash, or an edit made while the node was down, is never
 * silently lost.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from './index_db.ts';
import { parsePath } from '../protocol/paths.ts';
import type { LocalStat } from '../protocol/record.ts';

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
