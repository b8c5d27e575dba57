// The closing lines of `npm test` (run.mjs), pure: what skipped, then the
// plain summary `N passed, N failed`, which CI requires as the last line.

/**
 * `{suite, reason}` records (skip.ts) in the order they came, and uvu's count
 * of tests marked `.skip`, as one line: `skipped: SUITE: REASON (N tests); …`,
 * or `skipped: none`.
 *
 * @example
 * skippedLine([{ suite: 'deno.test.ts', reason: 'no Deno binary' }], 0)
 * // 'skipped: deno.test.ts: no Deno binary (1 test)'
 */
export function skippedLine(records, marked = 0) {
  const counts = new Map();
  for (const { suite, reason } of records) {
    const key = `${suite}: ${reason}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const tests = (n) => `${n} test${n === 1 ? '' : 's'}`;
  const parts = [...counts].map(([key, n]) => `${key} (${tests(n)})`);
  if (marked > 0) parts.push(`${tests(marked)} marked .skip`);
  return `skipped: ${parts.length ? parts.join('; ') : 'none'}`;
}

/** The records in the file skip.ts appends to (one JSON object a line); a torn or foreign line is left out. */
export function parseSkipRecords(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r?.suite === 'string' && typeof r?.reason === 'string') out.push({ suite: r.suite, reason: r.reason });
    } catch {
      // not a record
    }
  }
  return out;
}

/** uvu's totals from its output: `Total: N`, `Passed: N`, `Skipped: N`. */
export function uvuTotals(output) {
  const num = (label) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(output)?.[1] ?? 0);
  return { total: num('Total'), passed: num('Passed'), skipped: num('Skipped') };
}

/**
 * The last line: exactly `N passed, N failed`. uvu's Total counts the tests
 * that ran (not those marked `.skip`, which it counts apart). A suite that
 * crashed before uvu counted it is one failure.
 */
export function summaryLine({ total, passed }, crashed) {
  let failed = total - passed;
  if (crashed && failed === 0) failed = 1;
  return { line: `${passed} passed, ${failed} failed`, failed };
}
