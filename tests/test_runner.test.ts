/**
 * `npm test`'s runner (tests/_support/run.mjs) on the suites in
 * tests/_support/run_fixture (NUVEM_TEST_DIR): what skipped is named on a
 * line of its own, the last line is exactly `N passed, N failed`, and a
 * failure (or a required tool that is missing) exits non-zero. Also the pure
 * parts: the lines themselves and which test file a skip comes from.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSkipRecords, skippedLine, summaryLine, uvuTotals } from './_support/run_summary.mjs';
import { callingSuite, isRequired } from './_support/skip.ts';
import { REPO_ROOT } from './_support/node_process.ts';

interface Run {
  code: number | null;
  lines: string[];
}

function runFixtures(env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, ['tests/_support/run.mjs'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NUVEM_SKIPPED_FILE: '', NUVEM_TEST_DIR: join('tests', '_support', 'run_fixture'), ...env },
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.resume();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, lines: out.trimEnd().split('\n') })));
}

test('a green run names the skipped suites on their own line, then ends with exactly "N passed, N failed"', async () => {
  const run = await runFixtures();
  const [skippedAt, last] = run.lines.slice(-2);
  assert.is(run.code, 0, run.lines.join('\n'));
  assert.is(last, '4 passed, 0 failed');
  assert.is(skippedAt, 'skipped: needs_tool.test.ts: no fixture tool (2 tests); other.test.ts: no other tool (1 test); 1 test marked .skip');
  assert.ok(run.lines.some((l) => l.includes('(skipped: no fixture tool; install it)')), 'the suite says why, in its output');
});

test('a failing run still ends with the plain summary and exits 1', async () => {
  const run = await runFixtures({ FIXTURE_FAIL: '1' });
  assert.is(run.code, 1);
  assert.is(run.lines.at(-1), '3 passed, 1 failed');
  assert.match(run.lines.at(-2)!, /^skipped: needs_tool\.test\.ts: no fixture tool \(2 tests\)/);
});

test('with the requiring variable set, a missing tool fails instead of skipping', async () => {
  const run = await runFixtures({ FIXTURE_REQUIRE_TOOL: '1' });
  assert.is(run.code, 1);
  assert.is(run.lines.at(-1), '2 passed, 2 failed');
  assert.is(run.lines.at(-2), 'skipped: other.test.ts: no other tool (1 test); 1 test marked .skip');
  assert.ok(run.lines.some((l) => l.includes('FIXTURE_REQUIRE_TOOL is set but no fixture tool')), run.lines.join('\n'));
});

// ---

test('skippedLine: grouped by suite and reason in order; "none" when everything ran', () => {
  assert.is(skippedLine([]), 'skipped: none');
  const records = [
    { suite: 'deno.test.ts', reason: 'no Deno binary' },
    { suite: 'mosquitto.test.ts', reason: 'mosquitto is not installed' },
    { suite: 'deno.test.ts', reason: 'no Deno binary' },
  ];
  assert.is(skippedLine(records, 0), 'skipped: deno.test.ts: no Deno binary (2 tests); mosquitto.test.ts: mosquitto is not installed (1 test)');
  assert.is(skippedLine([], 3), 'skipped: 3 tests marked .skip');
});

test('parseSkipRecords keeps whole records only', () => {
  const text = '{"suite":"a.test.ts","reason":"r"}\nnot json\n{"suite":1}\n{"suite":"b.test.ts","reason":"s"}\n{"suite":"c.te';
  assert.equal(parseSkipRecords(text), [{ suite: 'a.test.ts', reason: 'r' }, { suite: 'b.test.ts', reason: 's' }]);
});

test('summaryLine: uvu totals, a crash counted as one failure', () => {
  const totals = uvuTotals('  Total:     12\n  Passed:    10\n  Skipped:   1\n  Duration:  3s');
  assert.equal(totals, { total: 12, passed: 10, skipped: 1 });
  assert.equal(summaryLine(totals, true), { line: '10 passed, 2 failed', failed: 2 }, 'a test marked .skip is not in Total');
  assert.equal(summaryLine({ total: 5, passed: 5, skipped: 0 }, true), { line: '5 passed, 1 failed', failed: 1 });
  assert.equal(summaryLine({ total: 5, passed: 5, skipped: 0 }, false), { line: '5 passed, 0 failed', failed: 0 });
});

test('callingSuite finds the test file in a stack; isRequired reads NUVEM_REQUIRE_* values', () => {
  const stack = 'Error\n    at skipped (file:///r/tests/_support/skip.ts:50:3)\n    at chromiumMissing (file:///r/tests/_support/browser.ts:33:1)\n    at file:///r/tests/dashboard_browser.test.ts:40:7';
  assert.is(callingSuite(stack), 'dashboard_browser.test.ts');
  assert.is(callingSuite('Error\n    at x (/r/a.ts:1:1)'), 'unknown suite');
  for (const yes of ['1', 'yes', 'true']) assert.ok(isRequired('X', { X: yes }), yes);
  for (const no of [undefined, '', '0', 'false']) assert.not.ok(isRequired('X', { X: no }), String(no));
});

test.run();
