/**
 * Text of transfer progress: sizes, rates, durations, the live line and the
 * closing line. Pure: no I/O, no clock.
 *
 * @example
 * formatProgressLine({ label: 'get a.iso', done: 512 * 2 ** 20, total: 2 ** 30, elapsedMs: 4000, rate: 128 * 2 ** 20 })
 * // 'get a.iso  50%  512.0 MiB / 1.0 GiB  128.0 MiB/s  ETA 0:04'
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `0 B`, `999 B`, `1.5 KiB`, `10.0 MiB`, `1.23 GiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} B`;
  return `${value.toFixed(value < 10 && unit >= 3 ? 2 : 1)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** A clock reading: `0:07`, `12:34`, `1:02:03`. */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** An elapsed time: `45 ms`, `3.2 s`, `1:05`. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatClock(ms / 1000);
}

export interface ProgressState {
  label: string;
  done: number;
  /** Unknown when undefined: then no percent and no ETA. */
  total?: number;
  elapsedMs: number;
  /** Recent bytes per second. */
  rate: number;
}

/** The live line: label, percent, done / total, rate, ETA. */
export function formatProgressLine(state: ProgressState): string {
  const parts = [state.label];
  const known = state.total !== undefined && state.total > 0;
  if (known) {
    const percent = Math.min(100, Math.floor((state.done / state.total!) * 100));
    parts.push(`${String(percent).padStart(3)}%`, `${formatBytes(state.done)} / ${formatBytes(state.total!)}`);
  } else {
    parts.push(formatBytes(state.done));
  }
  parts.push(state.rate > 0 ? formatRate(state.rate) : '-- /s');
  if (known) {
    const left = Math.max(0, state.total! - state.done);
    parts.push(`ETA ${state.rate > 0 ? formatClock(left / state.rate) : '?'}`);
  }
  return parts.join('  ');
}

/** The closing line: `put a.iso: 1.0 GiB in 8.2 s (124.9 MiB/s)`. */
export function formatFinalLine(state: { label: string; done: number; elapsedMs: number }): string {
  const seconds = state.elapsedMs / 1000;
  const rate = seconds > 0 ? formatRate(state.done / seconds) : '-- /s';
  return `${state.label}: ${formatBytes(state.done)} in ${formatElapsed(state.elapsedMs)} (${rate})`;
}

/** Cuts a line to fit a terminal of `columns` (leaving the last column free). */
export function fitLine(line: string, columns: number | undefined): string {
  if (!columns || columns < 2 || line.length < columns) return line;
  return line.slice(0, columns - 2) + '…';
}

/**
 * Bytes per second over a sliding window of recent samples, so the rate
 * follows the current speed rather than the average since the start.
 */
export class RateMeter {
  readonly #windowMs: number;
  #samples: Array<{ t: number; bytes: number }> = [];

  constructor(options: { windowMs?: number } = {}) {
    this.#windowMs = options.windowMs ?? 3000;
  }

  add(t: number, bytes: number): void {
    const last = this.#samples.at(-1);
    if (last && this.#samples.length > 1 && t - this.#samples[this.#samples.length - 2].t < 20) {
      // Many small chunks: keep samples at least 20 ms apart so memory stays small.
      last.t = t;
      last.bytes = bytes;
    } else {
      this.#samples.push({ t, bytes });
    }
    while (this.#samples.length > 2 && t - this.#samples[0].t > this.#windowMs) this.#samples.shift();
  }

  rate(): number {
    if (this.#samples.length < 2) return 0;
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    const dt = last.t - first.t;
    return dt > 0 ? ((last.bytes - first.bytes) * 1000) / dt : 0;
  }
}
