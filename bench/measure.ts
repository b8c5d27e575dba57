/** Small helpers the benchmarks share for taking figures. */
import { execFileSync } from "node:child_process";

/** The middle value (the upper one of the two middles for an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Writes back what earlier work left dirty, so the next measurement does not pay for it. */
export function flushDisk(): void {
  try {
    execFileSync("sync");
  } catch { /* no sync(1): figures just get noisier */ }
}
