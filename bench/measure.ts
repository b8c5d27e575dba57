/** Small helpers the benchmarks share for taking figures. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The middle value (the upper one of the two middles for an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Writes back what earlier work left dirty, so the next measurement does not pay for it. */
export function flushDisk(): void {
  try {
    execFileSync("sync");
  } catch { /* no sync(1): figures just get noisier */ }
}

/**
 * CPU time a process has used so far, user + system, all its threads, in ms
 * (Linux /proc, in clock ticks of 10 ms); undefined where there is no /proc.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
