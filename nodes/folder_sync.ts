/**
 * The node's files folder as a drive (DESIGN.md section 6): what a person or
 * program creates, changes, moves or deletes in `DATA/files/` becomes a new
 * version, move or tombstone once it has been unchanged for about a second
 * (folder_watcher.ts), and replicates like an upload. Reported paths are
 * checked against the index under their locks (recovery.ts), so the node's
 * own writes, those applied from peers included, never come back as edits.
 *
 * Nothing is missed for good: a full rescan runs every `rescanMs` (10 min)
 * and whenever the watcher says events may have been lost (an error, too
 * many pending paths, the inotify watch limit, after which it keeps asking
 * for rescans instead of watching). Passes run one at a time.
 */
import { FolderWatcher, type RescanReason } from './folder_watcher.ts';
import type { Log } from '../protocol/log.ts';
import type { Store } from './store.ts';

export interface FolderSync {
  /** Resolves once the watcher has its initial view (or fell back to rescans). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export const RESCAN_MS = 10 * 60_000;

export function syncFilesFolder(store: Store, options: { log: Log; rescanMs?: number; settleMs?: number }): FolderSync {
  const { log } = options;
  let chain = Promise.resolve();
  let closed = false;
  const run = (what: string, pass: () => Promise<{ changed: string[]; heldBack?: number }>) => {
    chain = chain.then(async () => {
      if (closed) return;
      try {
        const { changed, heldBack } = await pass();
        if (heldBack) {
          log('error', 'most files are gone from the files folder: is its volume still mounted? Not recording them as deleted; restart with --accept-vanished if they were deleted on purpose', { count: heldBack, pass: what });
        }
        if (changed.length) log('info', 'changes in the files folder became new versions', { paths: changed.slice(0, 100), count: changed.length, pass: what });
      } catch (err) {
        log('error', 'checking the files folder failed; the next pass tries again', { pass: what, error: String((err as Error)?.message ?? err) });
      }
    });
  };
  const rescan = (reason: RescanReason | 'timer' | 'start') => run(`rescan (${reason})`, () => store.recover());
  const watcher = new FolderWatcher({ root: store.filesDir, settleMs: options.settleMs, log });
  watcher.on('settled', ({ paths }) => run('watch', () => store.reconcilePaths(paths)));
  watcher.on('rescan', ({ reason }) => rescan(reason));
  // Edits made between the start-up check and the watcher's first view would wait for the timer: one pass closes that gap.
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve())).then(() => rescan('start'));
  const timer = setInterval(() => rescan('timer'), options.rescanMs ?? RESCAN_MS);
  timer.unref?.();
  return {
    ready,
    async close() {
      closed = true;
      clearInterval(timer);
      await watcher.close();
      await chain;
    },
  };
}
