/**
 * Free space on the data folder's file system, and the reserve below which
 * uploads are refused before they start (`--reserve`). The reserve keeps room
 * for what must still work on a nearly full disk: deletes, moves, the
 * index's write-ahead log, replicas applying their origins' changes. While
 * the free space is well above the reserve (by more than the reserve, and
 * at least 64 MiB), statfs runs at most once per `ttlMs`, so a PUT does not
 * pay for it; closer to the reserve every upload reads it afresh, so a burst
 * of uploads cannot run past it on a stale reading.
 */
import { NuvemError } from '../protocol/errors.ts';

export interface DiskUsage {
  free: number;
  total: number;
}

/** Cap of the default reserve: 256 MiB. */
export const RESERVE_CAP = 256 * 1024 * 1024;
/** Above the reserve by more than this (and the reserve itself), a reading is reused for `ttlMs`. */
const COMFORT = 64 * 1024 * 1024;

/** `--reserve`: bytes, or a share of the volume (config.ts `parseReserve`). */
export type Reserve = { bytes: number } | { ratio: number };

/**
 * The reserve for a volume of `total` bytes: as configured, or by default
 * 1 % of the volume or 256 MiB, whichever is smaller. Pure.
 *
 * @example
 * reserveFor(16 * 2 ** 20) // 167772 (1 % of 16 MiB)
 * reserveFor(2 ** 40, { ratio: 0.05 }) // 54975581388
 */
export function reserveFor(total: number, configured?: Reserve): number {
  if (configured && 'bytes' in configured) return configured.bytes;
  if (configured) return Math.floor(total * configured.ratio);
  return Math.min(Math.floor(total / 100), RESERVE_CAP);
}

export interface DiskSpaceOptions {
  /** Reads free and total bytes of the data folder's file system (the runtime's statfs). */
  usage: () => Promise<DiskUsage | undefined>;
  /** Space to keep free (`--reserve`); undefined: 1 % of the volume or 256 MiB, whichever is smaller. */
  reserve?: Reserve;
  /** How long a reading is used before statfs runs again (default 1000 ms). */
  ttlMs?: number;
  now?: () => number;
  /**
   * Called when a reading crosses the reserve: `full` true when the disk
   * fell below it (uploads refused from then on), false when it is above it
   * again. Not called for the first reading unless it is below.
   */
  onCross?: (full: boolean, usage: DiskUsage & { reserve: number }) => void;
}

export class DiskSpace {
  readonly #o: DiskSpaceOptions;
  readonly #now: () => number;
  #last: DiskUsage | undefined;
  #readAt = -Infinity;
  #reading: Promise<DiskUsage | undefined> | undefined;

  constructor(options: DiskSpaceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The last reading (status, metrics), or undefined before the first. */
  get last(): DiskUsage | undefined {
    return this.#last;
  }

  /** Reads statfs again now (one reading at a time). */
  refresh(): Promise<DiskUsage | undefined> {
    this.#reading ??= this.#o.usage().catch(() => undefined).then((u) => {
      this.#reading = undefined;
      this.#readAt = this.#now();
      if (u) {
        const was = this.#last === undefined ? false : this.full();
        this.#last = u;
        const now = this.full();
        if (now !== was) this.#o.onCross?.(now, { ...u, reserve: reserveFor(u.total, this.#o.reserve) });
      }
      return u;
    });
    return this.#reading;
  }

  /** Whether to read statfs again before admitting an upload. */
  #stale(): boolean {
    const u = this.#last;
    if (u === undefined || this.#now() - this.#readAt >= (this.#o.ttlMs ?? 1000)) return true;
    const reserve = reserveFor(u.total, this.#o.reserve);
    return u.free - reserve <= Math.max(reserve, COMFORT);
  }

  /** True when the last reading is below the reserve (the disk counts as full: uploads refused, /health 503). */
  full(): boolean {
    const u = this.#last;
    return u !== undefined && u.free < reserveFor(u.total, this.#o.reserve);
  }

  /** Resolves when an upload may start; throws `disk_full` (507) below the reserve. A fresh reading costs nothing. */
  async admit(): Promise<void> {
    if (this.#stale()) await this.refresh();
    const u = this.#last;
    if (u === undefined || !this.full()) return;
    const reserve = reserveFor(u.total, this.#o.reserve);
    throw new NuvemError('disk_full', `The node's disk is full: ${u.free} bytes free, below its reserve of ${reserve}; nothing was stored. Free space on it, or write to another node`, {
      free: u.free,
      reserve,
    });
  }
}
