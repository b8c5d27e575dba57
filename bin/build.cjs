#!/usr/bin/env node
// Builds dist/nuvem.cjs (the CLI) and dist/nuvem-node.cjs (the node) with
// esbuild: `npm run build`, and `prepare` on `npm install`. esbuild is a
// development dependency: an install without them (`npm install --omit=dev`)
// has no esbuild, and then this says so in one line and succeeds, leaving
// bin/nuvem.js to run the TypeScript through tsx (a dependency).
'use strict';
const { join } = require('node:path');

const root = join(__dirname, '..');
let esbuild;
try {
  esbuild = require(require.resolve('esbuild', { paths: [root] }));
} catch {
  console.error('nuvem: esbuild is not installed (an install without development dependencies): no build in dist/; bin/nuvem.js runs the TypeScript through tsx');
  process.exit(0);
}

try {
  esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: { nuvem: 'client/cli.ts', 'nuvem-node': 'nodes/bundle_entry.ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    target: 'node20',
    logLevel: 'warning',
    logOverride: { 'empty-import-meta': 'silent' },
    outdir: 'dist',
    outExtension: { '.js': '.cjs' },
  });
} catch {
  process.exit(1); // esbuild printed the errors
}
