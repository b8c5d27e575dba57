#!/usr/bin/env node
// The `nuvem` command (package.json "bin"). It runs the CLI compiled by
// `npm install` (the "prepare" script) or `npm run build` into dist/nuvem.cjs,
// in this same process, so argv, the exit code and signals are the CLI's own.
// Without that build, or when a source file is newer than it (a checkout being
// edited), it runs client/cli.ts through tsx instead, slower to start, and
// says so in one line on stderr.
// CommonJS (bin/package.json): an ES module entry costs Node ~15 ms more to start.
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const BUILT = join(ROOT, 'dist', 'nuvem.cjs');
/** The folders the build is made from. */
const SOURCES = ['client', 'nodes', 'functions', 'broker', 'protocol'];

/** The newest modification time of a file under `dir`. */
function newest(dir) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return max;
}

/** Why the build cannot be used, or undefined when it can. */
function unbuilt() {
  const built = statSync(BUILT, { throwIfNoEntry: false });
  if (!built) return 'no build in dist/';
  if (SOURCES.some((dir) => newest(join(ROOT, dir)) > built.mtimeMs)) return 'dist/ is older than the sources';
  return undefined;
}

const why = unbuilt();
if (why === undefined) {
  require(BUILT);
} else {
  process.stderr.write(`nuvem: ${why}; running the TypeScript through tsx (\`npm run build\` makes it start faster)\n`);
  import('tsx/esm/api').then(({ register }) => {
    register();
    return import('../client/cli.ts');
  });
}
