/**
 * Write serialisation for the store. File changes lock their own path (changes
 * to different paths run concurrently); folder-wide changes (recursive delete,
 * folder move) lock the whole tree, waiting for the file changes under way.
 */
export class Locks {
  #paths = new Map<string, Promise<void>>();
  #shared = 0;
  #exclusive: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  /** Runs `fn` holding the locks of `paths` (sorted, so no deadlock) and the tree shared. */
  async withPaths<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(paths)].sort();
    await this.#enterShared();
    const releases: (() => void)[] = [];
    try {
      for (const p of sorted) releases.push(await this.#lockPath(p));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
      this.#leaveShared();
    }
  }

  /** Runs `fn` alone: no other change runs meanwhile. */
  async withTree<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise((r) => (release = r));
    if (this.#shared > 0) await new Promise<void>((r) => (this.#drained = r));
    try {
      return await fn();
    } finally {
      const done = release;
      this.#exclusive = undefined;
      done();
    }
  }

  async #enterShared(): Promise<void> {
    while (this.#exclusive) await this.#exclusive;
    this.#shared++;
  }

  #leaveShared(): void {
    this.#shared--;
    if (this.#shared === 0 && this.#drained) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }

  async #lockPath(path: string): Promise<() => void> {
    while (this.#paths.has(path)) await this.#paths.get(path);
    let release!: () => void;
    this.#paths.set(path, new Promise((r) => (release = r)));
    return () => {
      this.#paths.delete(path);
      release();
    };
  }
}
