/**
 * Intents: a crash between a large file's rename into place and its index
 * commit must not make the start-up check take the renamed file for an
 * edit, which would mint a fresh version at restart, ranked above every
 * write acknowledged elsewhere in the meantime. So before the rename, the
 * change it carries out is committed durably as an intent row; the commit
 * of the change removes the row. At start-up (`adoptIntents`, before the
 * files folder is checked), a row whose file sits at its path with the
 * intended size and SHA-256 is committed as that change, with its own
 * version (this node's own change gets its seq then); any other row is
 * dropped: the rename never happened, and the old version stays.
 */
import { promises as fsp } from 'node:fs';
import type { Pending } from './commit_pipeline.ts';
import { exists, hashFile } from './disk.ts';
import { publicRecord } from './index_db.ts';
import { type Change, recordOf } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';

/** Makes `change` durable as an intent, with the folder entries `pending` made so far (revision links). */
export async function intend(ctx: StoreContext, change: Change, pending: Pending): Promise<void> {
  // If the intent cannot commit, the change fails: `pending`'s files go back as they were (its undo steps).
  await ctx.commits.commit({ changes: [], put: [], revisions: [], syncDirs: [...(pending.syncDirs ?? [])], undo: pending.undo, rows: { intents: [change] } });
  (pending.rows ??= {}).fulfilled = [...(pending.rows.fulfilled ?? []), { path: change.path, version: change.version }];
}

/**
 * Start-up: commits each intent whose file was renamed into place before a
 * crash, as the change it was; drops the others. Returns the paths adopted.
 */
export async function adoptIntents(ctx: StoreContext): Promise<string[]> {
  const { index, layout } = ctx;
  const adopted: string[] = [];
  const dropped: { path: string; version: string }[] = [];
  for (const change of index.intents()) {
    const done = { path: change.path, version: change.version };
    const current = index.get(change.path);
    const file = layout.filePath(change.path);
    const st = await fsp.lstat(file).catch(() => undefined);
    const renamed = current?.version !== change.version && st?.isFile() && st.size === change.size &&
      (await hashFile(file).catch(() => undefined)) === change.sha256;
    if (!renamed) {
      dropped.push(done);
      continue;
    }
    const record = recordOf(change);
    const pending: Pending = {
      changes: [change],
      put: [{ record, local: { size: st!.size, mtimeMs: st!.mtimeMs, ino: st!.ino } }],
      revisions: [],
      rows: { fulfilled: [done] },
    };
    const live = current && !current.deleted && current.type === 'file' ? current : undefined;
    if (live && (index.hasBlob(live.sha256) || (await exists(layout.revPath(live))))) pending.revisions.push(publicRecord(live));
    await ctx.commits.commit(pending);
    ctx.cache.delete(change.path);
    adopted.push(change.path);
  }
  if (dropped.length) await ctx.commits.commit({ changes: [], put: [], revisions: [], rows: { fulfilled: dropped } });
  return adopted;
}

/**
 * A test seam: with `NUVEM_CRASH_AT=<point>` in its environment, the node
 * process kills itself (SIGKILL, as `kill -9`) when it reaches that point.
 */
export function crashPoint(point: string): void {
  if (process.env.NUVEM_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}
