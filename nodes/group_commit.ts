/**
 * Group commit: mutations submitted while a batch is pending are committed
 * together in one index transaction (one fsync), then every submitter resumes.
 * Submission order is commit order.
 */
export class GroupCommit<M, R> {
  #queue: { mutation: M; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;
  readonly #commit: (batch: M[]) => R[];

  constructor(commit: (batch: M[]) => R[]) {
    this.#commit = commit;
  }

  submit(mutation: M): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ mutation, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    try {
      const results = this.#commit(batch.map((b) => b.mutation));
      batch.forEach((b, i) => b.resolve(results[i]));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
