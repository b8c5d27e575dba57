/**
 * Temporary folders for tests: each is removed by `cleanup()`, and any left
 * behind (a test that failed before its cleanup) is removed when the process exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  cleanup(): void;
}

const live = new Set<string>();

process.once('exit', () => {
  for (const path of live) rmSync(path, { recursive: true, force: true });
});

/**
 * @example
 * const dir = tempDir('store');
 * try { … dir.path … } finally { dir.cleanup(); }
 */
export function tempDir(label = 'test'): TempDir {
  const path = mkdtempSync(join(tmpdir(), `nuvem-${label}-`));
  live.add(path);
  return {
    path,
    cleanup() {
      rmSync(path, { recursive: true, force: true });
      live.delete(path);
    },
  };
}
