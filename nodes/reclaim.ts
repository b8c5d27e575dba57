/**
 * Reclaiming space on a timer: the revisions of paths deleted longer ago than
 * the trash period are dropped with their bytes (trash.ts), and content files
 * in `DATA/.nuvem/revs/` that no kept revision points at any more (left by a
 * crash between a link and its commit, or by an unlink that failed) are
 * collected. The tombstones themselves, and the change log, go at the end
 * of each anti-entropy pass, which knows what every member has applied
 * (purge.ts, log_prune.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Log } from '../protocol/log.ts';
import type { Metrics } from '../protocol/metrics.ts';
import type { IndexDb } from './index_db.ts';
import type { Locks } from './locks.ts';

/** A revision content file's name: `<sha256>-<version>`. */
const REV_FILE = /^([0-9a-f]{64})-(.+)$/;

/**
 * Unlinks the content files under `revsDir` that no kept revision points at,
 * older than `graceMs` (by ctime, which a new link sets). Each of the 256
 * folders is checked with every change held back (`locks.withTree`), so no
 * link is between its creation and its commit meanwhile. Returns how many
 * files went.
 */
export async function collectOrphans(options: { revsDir: string; index: IndexDb; locks: Locks; graceMs?: number; now?: () => number }): Promise<number> {
  const { revsDir, index, locks } = options;
  const graceMs = options.graceMs ?? 60_000;
  const now = options.now ?? Date.now;
  let removed = 0;
  const dirs = await fsp.readdir(revsDir).catch(() => [] as string[]);
  for (const dir of dirs) {
    const folder = join(revsDir, dir);
    removed += await locks.withTree(async () => {
      const names = await fsp.readdir(folder).catch(() => [] as string[]);
      let n = 0;
      for (const name of names) {
        const m = REV_FILE.exec(name);
        if (!m || index.keepsRevision(m[1], m[2])) continue;
        const file = join(folder, name);
        const st = await fsp.lstat(file).catch(() => undefined);
        if (!st?.isFile() || now() - st.ctimeMs < graceMs) continue;
        await fsp.unlink(file).then(() => n++, () => {});
      }
      return n;
    });
  }
  return removed;
}

export interface Reclaimer {
  /** One sweep now: expired trash, then (at most every `orphansEveryMs`) orphans. */
  runOnce(options?: { orphans?: boolean }): Promise<{ expired: number; orphans: number }>;
  stop(): void;
}

/** Sweeps every `intervalMs`: the trash's expired revisions each time, orphaned content files every `orphansEveryMs` (and at start). */
export function startReclaim(options: {
  store: { expireTrash(): Promise<number>; revsDir: string; index: IndexDb; locks: Locks };
  intervalMs: number;
  orphansEveryMs?: number;
  log: Log;
  metrics: Metrics;
}): Reclaimer {
  const { store, log } = options;
  const expiredTotal = options.metrics.counter('nuvem_trash_expired_total', 'Deleted paths whose revisions were dropped once out of the trash');
  const orphansTotal = options.metrics.counter('nuvem_revision_orphans_collected_total', 'Revision content files no kept revision pointed at, removed');
  expiredTotal({}, 0);
  orphansTotal({}, 0);
  const orphansEveryMs = options.orphansEveryMs ?? 3_600_000;
  let lastOrphans = 0;
  let running: Promise<{ expired: number; orphans: number }> | undefined;
  const runOnce = (o: { orphans?: boolean } = {}) =>
    (running ??= (async () => {
      const expired = await store.expireTrash();
      expiredTotal({}, expired);
      if (expired) log('debug', 'dropped the revisions of paths out of the trash', { count: expired });
      let orphans = 0;
      if (o.orphans ?? Date.now() - lastOrphans >= orphansEveryMs) {
        lastOrphans = Date.now();
        orphans = await collectOrphans({ revsDir: store.revsDir, index: store.index, locks: store.locks });
        orphansTotal({}, orphans);
        if (orphans) log('info', 'removed revision content no index row points at', { count: orphans });
      }
      return { expired, orphans };
    })().finally(() => (running = undefined)));
  const sweep = () => void runOnce().catch((err) => log('warn', 'reclaiming space failed; the next sweep tries again', { error: String((err as Error)?.message ?? err) }));
  const first = setTimeout(sweep, 1000);
  const timer = setInterval(sweep, options.intervalMs);
  return {
    runOnce,
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
