/** Resolves after `ms` milliseconds: the one sleep the tests share. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
