/**
 * Group commit: mutations submitted while a batch is pending, or while the
 * previous batch is being made durable, are committed together in one index
 * transaction; then `durable()` (the fsync that makes the transaction survive
 * a crash) runs and the submitters resume. A mutation that arrives during an
 * fsync needs the next one anyway, so waiting for it to end costs no latency
 * and turns many small transactions into one. Submission order is commit order.
 * `onDurable` sees each batch once its fsync is done, before its submitters
 * resume: what others may learn of a change (notices, published sequence
 * numbers) must wait for that point, or a crash could take back what they learnt.
 */
import { setImmediate } from 'node:timers';

export class GroupCommit<M, R> {
  #queue: { mutation: M; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;
  #syncing = false;
  readonly #commit: (batch: M[]) => R[];
  readonly #durable: () => Promise<void>;
  readonly #onDurable: (batch: M[]) => void;

  constructor(options: { commit: (batch: M[]) => R[]; durable?: () => Promise<void>; onDurable?: (batch: M[]) => void }) {
    this.#commit = options.commit;
    this.#durable = options.durable ?? (async () => {});
    this.#onDurable = options.onDurable ?? (() => {});
  }

  submit(mutation: M): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ mutation, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#syncing || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    let results: R[];
    try {
      results = this.#commit(batch.map((b) => b.mutation));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    this.#syncing = true;
    this.#durable()
      .then(
        () => {
          this.#onDurable(batch.map((b) => b.mutation));
          batch.forEach((b, i) => b.resolve(results[i]));
        },
        (err) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.#syncing = false;
        this.#schedule();
      });
  }
}
