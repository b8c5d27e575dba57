/**
 * A real small file system for disk-full tests: a tmpfs mounted on a temp
 * folder (the tests run as root), filled to its last byte by a filler file
 * and freed again. `available()` says whether this machine can mount one.
 *
 * @example
 * const fs = mountTmpfs({ mib: 16 });
 * try { fs.fill(); … fs.unfill(); } finally { fs.cleanup(); }
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  path: string;
  /** Writes a filler file until the file system is full (ENOSPC), leaving `leaveBytes` (rounded to pages) free. */
  fill(options?: { leaveBytes?: number }): void;
  /** Removes the filler files. */
  unfill(): void;
  /** Free bytes now (statfs). */
  free(): number;
  /** Unmounts and removes the folder; safe to call twice. */
  cleanup(): void;
}

const mounted = new Set<string>();

process.once('exit', () => {
  for (const path of mounted) spawnSync('umount', ['-l', path]);
});

/** Whether tmpfs can be mounted here (root, mount available); the reason when not. */
export function tmpfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = mkdtempSync(join(tmpdir(), 'nuvem-tmpfs-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]);
  if (r.status === 0) spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
  return r.status === 0 ? undefined : `mount -t tmpfs failed: ${String(r.stderr).trim()}`;
}

export function mountTmpfs(options: { mib?: number; label?: string } = {}): Tmpfs {
  const path = mkdtempSync(join(tmpdir(), `nuvem-${options.label ?? 'tmpfs'}-`));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${options.mib ?? 16}m`, 'tmpfs', path]);
  if (r.status !== 0) throw new Error(`mount -t tmpfs on ${path} failed: ${String(r.stderr).trim()}`);
  mounted.add(path);
  const fillers: string[] = [];
  const free = () => {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  };
  return {
    path,
    free,
    fill({ leaveBytes = 0 } = {}) {
      const file = join(path, `filler-${fillers.length}`);
      fillers.push(file);
      const fd = openSync(file, 'w');
      try {
        const page = statfsSync(path).bsize;
        const keep = Math.ceil(leaveBytes / page) * page;
        for (const size of [1 << 20, 64 << 10, page]) {
          const chunk = Buffer.alloc(size, 0x5a);
          while (free() - keep >= size) writeSync(fd, chunk);
        }
        if (keep === 0) {
          try {
            for (;;) writeSync(fd, Buffer.alloc(page, 0x5a));
          } catch (err) {
            if ((err as { code?: string }).code !== 'ENOSPC') throw err;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    unfill() {
      for (const f of fillers.splice(0)) rmSync(f, { force: true });
    },
    cleanup() {
      if (!mounted.delete(path)) return;
      spawnSync('umount', ['-l', path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}
