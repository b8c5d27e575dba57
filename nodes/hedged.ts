/**
 * Asking peers for the same thing, hedged: the best-ranked peer first; the
 * next one as soon as every peer asked so far has answered without anything
 * useful (or failed), or when `hedgeMs` passed since the last one was asked
 * and none has answered. The first useful answer wins and every request still
 * open is aborted. So a peer that vanished without a reset costs `hedgeMs`,
 * not its timeout, and a healthy cluster is asked once.
 */

/** How a peer's request ended: it answered, it failed, or it was still open when another peer's answer won. */
export type HedgeOutcome = 'answered' | 'failed' | 'overtaken';

export interface HedgeTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const realTimers: HedgeTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

/**
 * Asks `peers` in order, hedged (above). `peers` may be a function, read
 * again each time a next peer is wanted (a member verified meanwhile joins
 * in; while requests are open and every peer was asked, it is read again
 * every `hedgeMs`). `ask` answers a value or throws (a failure); `useful`
 * says whether a value wins. Resolves to the winner, if
 * any, and every answer that did not win, in the order they came; it
 * resolves without a winner only once every peer was asked and every
 * request ended.
 *
 * @example
 * const { winner } = await askHedged(peers, {
 *   ask: (peer, signal) => readPage(peer, { signal }),
 *   useful: (page) => page.changes.length > 0,
 *   hedgeMs: 1000,
 * });
 */
export function askHedged<P, T>(
  peers: P[] | (() => P[]),
  options: {
    ask: (peer: P, signal: AbortSignal) => Promise<T>;
    useful: (value: T) => boolean;
    hedgeMs: number;
    /** What names a peer (default: the value itself), so a peer read again is not asked twice. */
    key?: (peer: P) => unknown;
    onOutcome?: (peer: P, outcome: HedgeOutcome) => void;
    timers?: HedgeTimers;
  },
): Promise<{ winner?: { peer: P; value: T }; answers: { peer: P; value: T }[] }> {
  const timers = options.timers ?? realTimers;
  const answers: { peer: P; value: T }[] = [];
  const open = new Set<AbortController>();
  const asked = new Set<unknown>();
  const key = options.key ?? ((p: P) => p);
  const candidates = typeof peers === 'function' ? peers : () => peers;
  return new Promise((resolve) => {
    let done = false;
    let hedge: unknown;
    const finish = (winner?: { peer: P; value: T }) => {
      done = true;
      timers.clearTimeout(hedge);
      for (const c of open) c.abort(new Error('another peer answered first'));
      resolve({ winner, answers });
    };
    const askNext = () => {
      timers.clearTimeout(hedge);
      if (done) return;
      const peer = candidates().find((p) => !asked.has(key(p)));
      if (peer === undefined) {
        if (open.size === 0) finish();
        else hedge = timers.setTimeout(askNext, options.hedgeMs);
        return;
      }
      asked.add(key(peer));
      const control = new AbortController();
      open.add(control);
      hedge = timers.setTimeout(askNext, options.hedgeMs);
      Promise.resolve()
        .then(() => options.ask(peer, control.signal))
        .then(
          (value) => {
            open.delete(control);
            options.onOutcome?.(peer, 'answered');
            if (done) return;
            if (options.useful(value)) return finish({ peer, value });
            answers.push({ peer, value });
            askNext();
          },
          () => {
            open.delete(control);
            options.onOutcome?.(peer, done && control.signal.aborted ? 'overtaken' : 'failed');
            if (!done) askNext();
          },
        );
    };
    askNext();
  });
}
