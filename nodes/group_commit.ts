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
 * A batch whose transaction fails is committed again one mutation at a time,
 * so one failing write (a full disk, a bad record) fails alone, never the
 * others that happened to share its transaction.
 */
import { setImmediate } from 'node:timers';

/** A submitted mutation and its submitter's promise. */
interface Waiting<M, R> {
  mutation: M;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<M, R> {
  #queue: Waiting<M, R>[] = [];
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
    let batch = this.#queue;
    this.#queue = [];
    let results: R[];
    try {
      results = this.#commit(batch.map((b) => b.mutation));
    } catch (err) {
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
      [batch, results] = this.#oneByOne(batch);
      if (batch.length === 0) return;
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

  /** Commits each mutation of a failed batch in a transaction of its own; rejects those that fail again. */
  #oneByOne(batch: Waiting<M, R>[]): [Waiting<M, R>[], R[]] {
    const kept: Waiting<M, R>[] = [];
    const results: R[] = [];
    for (const b of batch) {
      try {
        results.push(this.#commit([b.mutation])[0]);
        kept.push(b);
      } catch (err) {
        b.reject(err);
      }
    }
    return [kept, results];
  }
}
