/** Resolves after `ms` milliseconds: the one sleep the tests share. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `check` until it answers something other than undefined or false,
 * and resolves to that and the time it took; throws naming `what` after
 * `ms`. For waiting on conditions, never on a fixed time.
 */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return { value, ms: performance.now() - started };
    if (performance.now() - started > ms) throw new Error(`waited ${ms} ms for ${what}`);
    await sleep(50);
  }
}
