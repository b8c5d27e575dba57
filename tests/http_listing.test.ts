/**
 * GET /files/ and /files/{folder}/: listing, recursive or not, paged with
 * limit and next_cursor.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256 } from './_support/bytes.ts';
import { FIELDS, put, errorOf } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

const listing = suite('GET /files/ and /files/{folder}/');
let ls: InProcessNode;
/**
 * 27 entries, 24 files and 3 explicit folders across nested folders, with
 * names that sort between a folder and its children (`a-z`, `a.txt`, `z-a.txt`, `z.txt`).
 */
const TREE_FILES = [
  'r0.txt', 'r1.txt', 'r2.txt', 'r3.txt', 'r4.txt',
  'a/a0.txt', 'a/a1.txt', 'a/a2.txt', 'a/a3.txt',
  'a/b/b0.txt', 'a/b/b1.txt', 'a/b/b2.txt',
  'a/b/c/c0.txt', 'a/b/c/c1.txt',
  'a.txt', 'a-z/x.txt', 'a0/y.txt',
  'd/e/f/deep.txt', 'd/e/g.txt',
  'z/1.txt', 'z/2.txt', 'z/3.txt', 'z.txt', 'z-a.txt',
];
const TREE_FOLDERS = ['empty', 'a/explicit', 'z'];
const ALL = [...TREE_FILES, ...TREE_FOLDERS].sort();

async function pages(target: string, limit: number): Promise<{ entries: any[]; pages: number }> {
  const entries: any[] = [];
  let cursor = '';
  let count = 0;
  for (;;) {
    const sep = target.includes('?') ? '&' : '?';
    const res = await ls.request(`${target}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.is(res.status, 200);
    const page = await res.json();
    assert.ok(page.entries.length <= limit, `page of ${page.entries.length} > ${limit}`);
    entries.push(...page.entries);
    count++;
    assert.ok(count <= 100, `paging ${target} with limit=${limit} ends (got ${entries.map((e) => e.path).join(' ')})`);
    if (page.next_cursor === '') return { entries, pages: count };
    assert.type(page.next_cursor, 'string');
    cursor = page.next_cursor;
  }
}

listing.before(async () => {
  ls = await inProcessNode();
  for (const p of TREE_FOLDERS) {
    const res = await ls.request(`/files/${p}`, { method: 'MKCOL' });
    assert.is(res.status, 201, p);
  }
  for (const p of TREE_FILES) assert.is((await put(ls, p, p)).status, 201, p);
  await put(ls, 'z/1.txt', 'replaced'); // a replaced file is listed once
});
listing.after(() => ls.close());

listing('the root, not recursive: files and each subfolder once (implicit and explicit)', async () => {
  const res = await ls.request('/files/');
  assert.is(res.status, 200);
  const { entries, next_cursor } = await res.json();
  assert.is(next_cursor, '');
  assert.equal(entries.map((e: any) => `${e.type}:${e.path}`).sort(), [
    'file:a.txt', 'file:r0.txt', 'file:r1.txt', 'file:r2.txt', 'file:r3.txt', 'file:r4.txt', 'file:z-a.txt', 'file:z.txt',
    'folder:a', 'folder:a-z', 'folder:a0', 'folder:d', 'folder:empty', 'folder:z',
  ]);
  const file = entries.find((e: any) => e.path === 'r0.txt');
  for (const f of FIELDS) assert.ok(f in file, `file entry has ${f}`);
  assert.is(file.sha256, sha256('r0.txt'));
  const explicit = entries.find((e: any) => e.path === 'empty');
  assert.type(explicit.version, 'string');
});

listing('a subfolder, not recursive', async () => {
  const { entries } = await (await ls.request('/files/a/')).json();
  assert.equal(entries.map((e: any) => `${e.type}:${e.path}`).sort(), [
    'file:a/a0.txt', 'file:a/a1.txt', 'file:a/a2.txt', 'file:a/a3.txt', 'folder:a/b', 'folder:a/explicit',
  ]);
  const { entries: deep } = await (await ls.request('/files/a/b/c/')).json();
  assert.equal(deep.map((e: any) => e.path), ['a/b/c/c0.txt', 'a/b/c/c1.txt']);
  const { entries: hollow } = await (await ls.request('/files/empty/')).json();
  assert.equal(hollow, []);
});

listing('?recursive=true lists every live record once', async () => {
  const { entries, next_cursor } = await (await ls.request('/files/?recursive=true')).json();
  assert.is(next_cursor, '');
  assert.equal(entries.map((e: any) => e.path), ALL);
  const sub = await (await ls.request('/files/a/?recursive=true')).json();
  assert.equal(sub.entries.map((e: any) => e.path), ALL.filter((p) => p.startsWith('a/')));
});

listing('?limit=2 paging through next_cursor returns every entry exactly once', async () => {
  const rec = await pages('/files/?recursive=true', 2);
  assert.equal(rec.entries.map((e: any) => e.path), ALL);
  assert.is(rec.pages, Math.ceil(ALL.length / 2));
  const flat = await pages('/files/', 2);
  const whole = await (await ls.request('/files/')).json();
  assert.equal(flat.entries, whole.entries);
  const sub = await pages('/files/a/', 2);
  assert.equal(sub.entries, (await (await ls.request('/files/a/')).json()).entries);
  const one = await pages('/files/?recursive=true', 1);
  assert.equal(one.entries.map((e: any) => e.path), ALL);
});

listing('every page size gives the same listing, each entry once (recursive or not, root or subfolder)', async () => {
  for (const target of ['/files/', '/files/a/', '/files/?recursive=true', '/files/a/?recursive=true']) {
    const whole = (await (await ls.request(target)).json()).entries;
    for (let limit = 1; limit <= whole.length; limit++) {
      const paged = await pages(target, limit);
      const paths = paged.entries.map((e: any) => e.path);
      assert.is(new Set(paths).size, paths.length, `${target} limit=${limit}: duplicates in ${paths.join(' ')}`);
      assert.equal(paths, whole.map((e: any) => e.path), `${target} limit=${limit}`);
    }
  }
});

listing('limit=0, limit=abc and limit=999999 are clamped, not refused', async () => {
  const zero = await ls.request('/files/?recursive=true&limit=0');
  assert.is(zero.status, 200);
  const z = await zero.json();
  assert.is(z.entries.length, 1);
  assert.ok(z.next_cursor !== '');
  for (const limit of ['abc', '999999', '-3']) {
    const res = await ls.request(`/files/?recursive=true&limit=${limit}`);
    assert.is(res.status, 200, limit);
    const page = await res.json();
    assert.ok(page.entries.length >= 1, limit);
    if (limit !== '-3') assert.is(page.entries.length, ALL.length, limit);
  }
});

listing('a bad cursor is 400; a missing folder 404; a file as folder 409', async () => {
  await errorOf(await ls.request('/files/?cursor=not-a-cursor!!'), 400, 'bad_request');
  await errorOf(await ls.request('/files/?recursive=true&cursor=%7B%7D'), 400, 'bad_request');
  await errorOf(await ls.request('/files/nope/'), 404, 'not_found');
  await errorOf(await ls.request('/files/r0.txt/'), 409, 'conflict');
});

listing.run();
