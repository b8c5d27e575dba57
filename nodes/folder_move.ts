/**
 * A folder MOVE, durable and yielding. The folder is renamed on disk in one
 * rename, but its entries (the folder's record and every record under it)
 * move in the index in commits of MOVE_BATCH, yielding to the event loop
 * between them, so a folder of 50,000 entries does not hold the node for
 * seconds. What keeps it whole:
 *
 * 1. Before the rename, the move is committed durably as an intent (a meta
 *    row: from, to, and the folder's inode).
 * 2. The rename. Until the last batch commits, the files of entries the
 *    index still names under `from` sit under `to`: reads find them there
 *    (layout.ts `movingFolder`), so a reader sees each file at its old path
 *    or at its new one, never at neither. Writes wait: the move holds the
 *    tree lock throughout.
 * 3. The batches; the first one fsyncs the folders the rename changed, the
 *    last one removes the intent in its own transaction.
 *
 * At start-up (`finishFolderMove`, before the files folder is checked), an
 * intent left by a crash is completed or rolled back by where the folder
 * is: a folder at `to` with the intent's inode was renamed, and the entries
 * the index still holds under `from` move to `to` (as new changes of this
 * node, so they replicate like the batches before the crash); otherwise the
 * rename did not happen (or did not survive the crash, which means no batch
 * committed, since the first one fsyncs the rename first) and the intent is
 * dropped. Either way the folder is wholly at one path, in the index as on
 * disk.
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import type { Pending } from './commit_pipeline.ts';
import { diskError } from './disk.ts';
import type { Entry, IndexDb } from './index_db.ts';
import { crashPoint } from './intents.ts';
import { subtreeRange } from '../protocol/paths.ts';
import { type FileRecord, tombstoneOf } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';

/** Entries of a folder move committed together. */
export const MOVE_BATCH = 200;

/** The meta row holding the intent of the folder move under way. */
const INTENT = 'folder_move';

interface MoveIntent {
  from: string;
  to: string;
  /** The folder's inode: the folder at `to` is the one renamed iff it has it. */
  ino: number;
}

/**
 * Moves the folder `from` to `to` with `entries` (its own record first, if
 * it has one, then everything live under it), all checked by the caller,
 * which holds the tree lock. Returns the new records.
 */
export async function moveFolder(ctx: StoreContext, options: { from: string; to: string; entries: Entry[] }): Promise<FileRecord[]> {
  const { from, to } = options;
  const { layout } = ctx;
  const st = await fsp.lstat(layout.filePath(from)).catch((err) => {
    throw diskError(err);
  });
  const intent: MoveIntent = { from, to, ino: st.ino };
  await ctx.commits.commit({ changes: [], put: [], revisions: [], rows: { meta: { [INTENT]: JSON.stringify(intent) } } });
  crashPoint('move-after-intent');
  const first: Pending = { changes: [], put: [], revisions: [] };
  try {
    await layout.placeFolder(from, { to, pending: first, onRenamed: () => layout.movingFolder({ from, to }) });
  } catch (err) {
    layout.movingFolder(undefined);
    await dropIntent(ctx);
    throw err;
  }
  crashPoint('move-after-rename');
  try {
    return await moveInBatches(ctx, { ...intent, entries: options.entries, first });
  } finally {
    layout.movingFolder(undefined);
    await layout.prune(dirname(layout.filePath(from)));
  }
}

/**
 * Start-up: completes or rolls back a folder move a crash interrupted
 * (above). Returns what it did, or undefined when no move was under way.
 */
export async function finishFolderMove(ctx: StoreContext): Promise<{ from: string; to: string; completed: boolean; moved: number } | undefined> {
  const raw = ctx.index.getMeta(INTENT);
  if (raw === undefined) return undefined;
  const intent = JSON.parse(raw) as MoveIntent;
  const { from, to } = intent;
  const st = await fsp.lstat(ctx.layout.filePath(to)).catch(() => undefined);
  if (!st?.isDirectory() || st.ino !== intent.ino) {
    await dropIntent(ctx);
    return { from, to, completed: false, moved: 0 };
  }
  const self = ctx.index.get(from);
  const entries = [...(self && !self.deleted ? [self] : []), ...(await liveUnder(ctx.index, from))];
  ctx.layout.movingFolder({ from, to });
  try {
    const records = await moveInBatches(ctx, { from, to, entries });
    return { from, to, completed: true, moved: records.length };
  } finally {
    ctx.layout.movingFolder(undefined);
    await ctx.layout.prune(dirname(ctx.layout.filePath(from)));
  }
}

/** The live entries under a folder, in path order, read a page at a time (yielding between pages). */
export async function liveUnder(index: IndexDb, path: string, pageSize = MOVE_BATCH): Promise<Entry[]> {
  const [lo, hi] = subtreeRange(path);
  const out: Entry[] = [];
  for (let after = lo; ;) {
    const page = index.range(after, hi, pageSize);
    out.push(...page);
    if (page.length < pageSize) return out;
    after = page[page.length - 1].path;
    await setImmediate();
  }
}

/**
 * Moves `entries` from under `from` to under `to` in the index, MOVE_BATCH
 * per commit, yielding between them; `first` (the rename's folders and undo)
 * goes with the first batch, and the last one drops the intent.
 */
async function moveInBatches(ctx: StoreContext, options: { from: string; to: string; entries: Entry[]; first?: Pending }): Promise<FileRecord[]> {
  const { from, to, entries } = options;
  const records: FileRecord[] = [];
  for (let i = 0; i === 0 || i < entries.length; i += MOVE_BATCH) {
    const pending: Pending = i === 0 && options.first ? options.first : { changes: [], put: [], revisions: [] };
    for (const e of entries.slice(i, i + MOVE_BATCH)) {
      const record = ctx.newRecord(to + e.path.slice(from.length), { type: e.type, size: e.size, sha256: e.sha256, contentType: e.contentType });
      pending.changes.push({ ...record, op: 'move', from: e.path, fromPrev: e.version });
      pending.put.push({ record: tombstoneOf(record, e.path, e.version) }, { record, local: e.local });
      records.push(record);
      ctx.cache.delete(e.path);
    }
    const last = i + MOVE_BATCH >= entries.length;
    if (last) pending.rows = { ...pending.rows, meta: { [INTENT]: null } };
    if (i === 0) {
      try {
        await ctx.commits.commit(pending);
      } catch (err) {
        // Nothing of the move is in the index, and the rename was undone (the commit's undo): the intent goes.
        await dropIntent(ctx).catch(() => {});
        throw err;
      }
    } else {
      await commitAtLast(ctx, pending);
    }
    if (!last) {
      crashPoint('move-between-batches');
      await setImmediate();
    }
  }
  return records;
}

/**
 * Commits a batch after the first: part of the folder is moved in the index
 * already, so the rest must follow. A batch that fails (a full disk) is
 * tried again, waiting longer each time (up to 5 s), until it commits; a
 * node that stops meanwhile completes the move at start (the intent).
 */
async function commitAtLast(ctx: StoreContext, pending: Pending): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.commits.commit(pending);
    } catch (err) {
      if (attempt === 0) ctx.onMoveRetry?.(err);
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
    }
  }
}

function dropIntent(ctx: StoreContext): Promise<void> {
  return ctx.commits.commit({ changes: [], put: [], revisions: [], rows: { meta: { [INTENT]: null } } });
}
