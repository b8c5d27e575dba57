/**
 * The one way a test says it cannot run here (no Deno, no Mosquitto, no
 * Chromium…): `skipped()` prints `(skipped: REASON)` in the test output once
 * per suite and reason, and records it for `npm test` (run.mjs), which lists
 * the skipped suites on a line of their own before the summary, so a green
 * run never hides what did not run. With the suite's requiring variable set
 * (CI sets NUVEM_REQUIRE_DENO, NUVEM_REQUIRE_MOSQUITTO,
 * NUVEM_REQUIRE_CHROMIUM), the missing tool fails the test instead.
 *
 * The record is one JSON line appended to the file named by NUVEM_SKIPPED_FILE
 * (set by run.mjs; without it, nothing is recorded).
 *
 * @example
 * test('a node under Deno replicates', async () => {
 *   if (!deno) return skipped('no Deno binary', { required: 'NUVEM_REQUIRE_DENO', hint: 'npm run deno:install' });
 *   …
 * });
 */
import { appendFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { SkipRecord } from './run_summary.mjs';

/** Environment variable run.mjs passes: where skipped suites are recorded. */
export const SKIPPED_FILE_ENV = 'NUVEM_SKIPPED_FILE';

const told = new Set<string>();

/** Whether an environment variable like NUVEM_REQUIRE_DENO asks for the tool ("1", "yes"…; not "", "0" or "false"). */
export function isRequired(name: string, env: Record<string, string | undefined> = process.env): boolean {
  const value = env[name]?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** The test file that called (NAME.test.ts), from the stack, or "unknown suite". */
export function callingSuite(stack = new Error().stack ?? ''): string {
  return /([^\\/:()\s]+\.test\.[cm]?[jt]s)\b/.exec(stack)?.[1] ?? 'unknown suite';
}

/**
 * Marks the running test as not run here, for `reason`; fails it instead when
 * `required` names an environment variable that is set. Always returns
 * undefined, so a test can `return skipped(…)`.
 */
export function skipped(reason: string, options: { required?: string; hint?: string; suite?: string } = {}): undefined {
  if (options.required && isRequired(options.required)) assert.unreachable(`${options.required} is set but ${reason}`);
  const suite = options.suite ?? callingSuite();
  const key = `${suite}\n${reason}`;
  if (!told.has(key)) console.log(`\n  (skipped: ${reason}${options.hint ? `; ${options.hint}` : ''})`);
  told.add(key);
  const file = process.env[SKIPPED_FILE_ENV];
  if (file) appendFileSync(file, JSON.stringify({ suite, reason } satisfies SkipRecord) + '\n');
  return undefined;
}
