#!/usr/bin/env node
// Runs the uvu suites (tests/*.test.ts, helpers in tests/_support are not run)
// under tsx, passes their output through, and ends with the plain summary line
// `N passed, N failed` from uvu's totals. Exits non-zero on any failure.
// Arguments narrow the run: `npm test -- store` runs files matching "store".
import { spawn } from 'node:child_process';

function withoutColor(env) {
  const out = { ...env, NO_COLOR: '1' };
  delete out.FORCE_COLOR;
  return out;
}

const pattern = process.argv[2] ?? '\\.test\\.ts$';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', 'node_modules/uvu/bin.js', 'tests', pattern, '-i', '_support'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: withoutColor(process.env) },
);
let out = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  out += chunk.toString();
});
child.on('close', (code, signal) => {
  const num = (label) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? 0);
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  let failed = total - passed - skipped;
  if ((code !== 0 || signal) && failed === 0) failed = 1; // a suite crashed before uvu could count it
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed > 0 || code !== 0 ? 1 : 0);
});
