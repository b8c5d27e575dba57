/**
 * Transfer progress on a terminal (DESIGN.md section 5): a live line with
 * percent, rate and ETA for transfers over 10 MiB, redrawn at most every
 * 100 ms, and a closing line (size, time, rate) for every transfer. Nothing at
 * all when the stream is not a terminal. Clock and stream are injectable.
 *
 * @example
 * const progress = createProgress('get a.iso', { total: size });
 * for await (const chunk of body) { …; progress.update(done); }
 * progress.finish();
 */
import { fitLine, formatFinalLine, formatProgressLine, RateMeter } from './progress_format.ts';

export const LIVE_THRESHOLD = 10 * 1024 * 1024;
export const REDRAW_MS = 100;

/** What progress needs of `process.stderr`. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  total?: number;
  stream?: ProgressStream;
  now?: () => number;
  /** Print the closing line (default true); off for a preparatory pass such as hashing. */
  final?: boolean;
}

export interface Progress {
  update(done: number): void;
  /** Clears the live line and prints the closing line. */
  finish(): void;
  /** Clears the live line, prints nothing more. */
  abort(): void;
}

const CLEAR_LINE = '\r\x1b[K';

/** Progress that shows nothing. */
export const NO_PROGRESS: Progress = { update() {}, finish() {}, abort() {} };

export function createProgress(label: string, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? (globalThis as { process?: { stderr?: ProgressStream } }).process?.stderr;
  if (!stream?.isTTY) return NO_PROGRESS;
  const now = options.now ?? (() => performance.now());
  const started = now();
  const meter = new RateMeter();
  meter.add(started, 0);
  let done = 0;
  let lastDraw = -Infinity;
  let drawn = false;
  let closed = false;

  const live = () => (options.total !== undefined ? options.total > LIVE_THRESHOLD : done > LIVE_THRESHOLD);
  const clear = () => {
    if (drawn) stream.write(CLEAR_LINE);
    drawn = false;
  };

  return {
    update(n) {
      if (closed) return;
      done = n;
      const t = now();
      meter.add(t, n);
      if (!live() || t - lastDraw < REDRAW_MS) return;
      lastDraw = t;
      const line = formatProgressLine({ label, done, total: options.total, elapsedMs: t - started, rate: meter.rate() });
      stream.write(CLEAR_LINE + fitLine(line, stream.columns));
      drawn = true;
    },
    finish() {
      if (closed) return;
      closed = true;
      clear();
      if (options.final !== false) stream.write(formatFinalLine({ label, done, elapsedMs: now() - started }) + '\n');
    },
    abort() {
      if (closed) return;
      closed = true;
      clear();
    },
  };
}
