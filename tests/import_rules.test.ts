/**
 * The folder rule (README, "Design"): folders import downward only.
 * `protocol/` imports none of the others; `broker/` and `functions/` import
 * `protocol/` only; `nodes/` is the composition root; `client/` may use all
 * of those; nothing imports `tests/` or `bench/`. A new import that breaks
 * the rule fails here with the file and the import named.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** What each folder may import from the project, besides itself. */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  broker: ['protocol'],
  functions: ['protocol'],
  nodes: ['protocol', 'broker', 'functions'],
  client: ['protocol', 'broker', 'functions', 'nodes'],
  bin: ['protocol', 'broker', 'functions', 'nodes', 'client', 'dist'],
};

/** Where a relative import lands, as a folder of the project. */
function folderOf(spec: string, from: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = join(from, spec);
  const rel = target.slice(ROOT.length + 1);
  return rel.split('/')[0];
}

function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** Runtime-specific modules `protocol/` must not reach for: it is pure, no I/O. */
const IO_MODULES = /^(?:node:)?(?:fs|fs\/promises|net|http|https|child_process|dgram|os|worker_threads)$/;

test('folders import downward only', () => {
  const broken: string[] = [];
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    const dir = join(ROOT, folder);
    for (const name of readdirSync(dir)) {
      if (!/\.(ts|js|mjs)$/.test(name)) continue;
      const source = readFileSync(join(dir, name), 'utf8');
      for (const spec of importsOf(source)) {
        const target = folderOf(spec, dir);
        if (target === undefined) {
          if (folder === 'protocol' && IO_MODULES.test(spec)) broken.push(`${folder}/${name} imports ${spec} (protocol/ does no I/O)`);
          continue;
        }
        if (target !== folder && !allowed.includes(target)) broken.push(`${folder}/${name} imports ${spec}`);
      }
    }
  }
  assert.equal(broken, []);
});

test('the rule sees a broken import', () => {
  assert.equal(importsOf("import { x } from '../nodes/store.ts';\nexport { y } from './a.ts';"), ['../nodes/store.ts', './a.ts']);
  assert.is(folderOf('../nodes/store.ts', join(ROOT, 'functions')), 'nodes');
  assert.is(folderOf('hono', join(ROOT, 'functions')), undefined);
});

test.run();
