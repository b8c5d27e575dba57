#!/usr/bin/env node
// Runs the uvu suites (tests/*.test.ts, helpers in tests/_support are not run)
// under tsx, passes their output through, then prints what skipped (suites
// that cannot run here: tests/_support/skip.ts) on a line of its own, and
// ends with the plain summary line `N passed, N failed` from uvu's totals.
// Exits non-zero on any failure.
// It first builds dist/ (`npm run build`), so the suites that run the `nuvem`
// command run the current sources compiled, as installed.
// Arguments narrow the run: `npm test -- store` runs files matching "store".
// NUVEM_TEST_DIR runs another folder of suites (for this runner's own test).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSkipRecords, skippedLine, summaryLine, uvuTotals } from './run_summary.mjs';

function withoutColor(env) {
  const out = { ...env, NO_COLOR: '1' };
  delete out.FORCE_COLOR;
  return out;
}

const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (build.status !== 0) {
  console.log('\nnpm run build failed: see above');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const pattern = process.argv[2] ?? '\\.test\\.ts$';
const dir = process.env.NUVEM_TEST_DIR || 'tests';
const scratch = mkdtempSync(join(tmpdir(), 'nuvem-run-'));
const skippedFile = join(scratch, 'skipped.jsonl');
const child = spawn(
  process.execPath,
  ['--import', 'tsx', 'node_modules/uvu/bin.js', dir, pattern, '-i', '_support'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...withoutColor(process.env), NUVEM_SKIPPED_FILE: skippedFile } },
);
let out = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  out += chunk.toString();
});
child.on('close', (code, signal) => {
  let records = [];
  try {
    records = parseSkipRecords(readFileSync(skippedFile, 'utf8'));
  } catch {
    // nothing skipped: no file
  }
  rmSync(scratch, { recursive: true, force: true });
  const totals = uvuTotals(out);
  const { line, failed } = summaryLine(totals, code !== 0 || signal !== null);
  console.log(`\n${skippedLine(records, totals.skipped)}`);
  console.log(line);
  process.exit(failed > 0 || code !== 0 ? 1 : 0);
});
