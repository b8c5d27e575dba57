/**
 * The resource report of every heartbeat (DESIGN.md section 4), like the
 * psutil figures BigFS workers sent their master: `cpu` (share of all cores
 * busy since the previous sample, 0 to 1), `load` (1-minute load average) and
 * `mem: {rss, free, total}`. Read from `node:os` and `node:process`, which
 * Node and Deno (with `--allow-sys`) both provide. The disk figures come
 * from `diskUsage` (statfs), refreshed less often by the node.
 *
 * Sampling is lazy: `read()` gives the last figures until `intervalMs` has
 * passed on the injected clock, then takes a new sample. So a status built
 * for every heartbeat, every `/status` request and every prompt publish
 * costs one sample per interval, and `cpu` always covers a whole interval.
 *
 * @example
 * const resources = createResourceSampler({ intervalMs: 1000 });
 * resources.read(); // { cpu: 0.12, load: 0.4, mem: { rss: 61_000_000, free: 3.1e9, total: 8.2e9 } }
 */
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import process from 'node:process';

export interface Resources {
  cpu: number;
  load: number;
  mem: { rss: number; free: number; total: number };
}

/** Where the figures come from: the machine by default, anything in tests. */
export interface ResourceSources {
  /** Cumulative CPU time of all cores: busy and total, in any unit (undefined when unknown). */
  cpuTimes(): { busy: number; total: number } | undefined;
  loadavg(): number;
  rss(): number;
  freemem(): number;
  totalmem(): number;
}

export interface ResourceSampler {
  /** The figures of the latest sample (a new one when the last is `intervalMs` old). */
  read(): Resources;
}

/** The machine's figures through node:os and node:process. */
export const systemSources: ResourceSources = {
  cpuTimes() {
    let busy = 0;
    let total = 0;
    for (const { times } of os.cpus()) {
      const all = times.user + times.nice + times.sys + times.idle + times.irq;
      total += all;
      busy += all - times.idle;
    }
    return total > 0 ? { busy, total } : undefined;
  },
  loadavg: () => os.loadavg()[0],
  rss: () => process.memoryUsage.rss(),
  freemem: () => os.freemem(),
  totalmem: () => os.totalmem(),
};

export function createResourceSampler(options: { intervalMs?: number; now?: () => number; sources?: ResourceSources } = {}): ResourceSampler {
  const intervalMs = options.intervalMs ?? 1000;
  const now = options.now ?? Date.now;
  const sources = options.sources ?? systemSources;
  const safe = <T>(read: () => T, fallback: T): T => {
    try {
      return read();
    } catch {
      return fallback; // a runtime without the permission or the figure: report 0, never fail a heartbeat
    }
  };
  let lastTimes = safe(() => sources.cpuTimes(), undefined);
  let cpu = 0;
  let sampledAt = -Infinity;
  let figures: Resources | undefined;
  const sample = (): Resources => {
    const times = safe(() => sources.cpuTimes(), undefined);
    if (times && lastTimes && times.total > lastTimes.total && times.busy >= lastTimes.busy) {
      cpu = clamp((times.busy - lastTimes.busy) / (times.total - lastTimes.total));
    }
    if (times) lastTimes = times;
    return {
      cpu: round(cpu, 3),
      load: round(Math.max(0, safe(() => sources.loadavg(), 0)), 2),
      mem: {
        rss: whole(safe(() => sources.rss(), 0)),
        free: whole(safe(() => sources.freemem(), 0)),
        total: whole(safe(() => sources.totalmem(), 0)),
      },
    };
  };
  return {
    read() {
      const t = now();
      if (!figures || t - sampledAt >= intervalMs) {
        figures = sample();
        sampledAt = t;
      }
      return figures;
    },
  };
}

/** Free and total bytes of the file system holding `dir` (statfs; Node and Deno). */
export async function diskUsage(dir: string): Promise<{ free: number; total: number }> {
  const s = await statfs(dir);
  return { free: whole(s.bavail * s.bsize), total: whole(s.blocks * s.bsize) };
}

function clamp(v: number): number {
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Number.isFinite(v) ? Math.round(v * f) / f : 0;
}

function whole(v: number): number {
  return Number.isSafeInteger(Math.round(v)) && v > 0 ? Math.round(v) : 0;
}
