/**
 * GET /changes: the change feed, its cursor, limit and wait= long-polling.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { put, errorOf } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

const changes = suite('GET /changes');
let ch: InProcessNode;
changes.before(async () => {
  ch = await inProcessNode();
});
changes.after(() => ch.close());

changes('the feed from the beginning, then since a cursor', async () => {
  const empty = await (await ch.request('/changes')).json();
  assert.equal(empty.changes, []);
  await put(ch, 'c/one.txt', '1');
  await put(ch, 'c/two.txt', '2');
  await ch.request('/files/c/one.txt', { method: 'DELETE' });
  await ch.request('/files/c/dir', { method: 'MKCOL' });
  await ch.request('/files/c/two.txt', { method: 'MOVE', headers: { destination: '/files/c/three.txt' } });
  const all = await (await ch.request('/changes?since=')).json();
  assert.type(all.cursor, 'string');
  assert.equal(all.changes.map((c: any) => [c.op, c.path]), [
    ['put', 'c/one.txt'], ['put', 'c/two.txt'], ['delete', 'c/one.txt'], ['mkcol', 'c/dir'], ['move', 'c/three.txt'],
  ]);
  assert.is(all.changes[2].deleted, true);
  assert.is(all.changes[4].from, 'c/two.txt');
  const seqs = all.changes.map((c: any) => c.seq);
  assert.equal(seqs, [...seqs].sort((a: number, b: number) => a - b));
  assert.is(new Set(seqs).size, seqs.length);
  const after = await (await ch.request(`/changes?since=${all.cursor}`)).json();
  assert.equal(after.changes, []);
  assert.is(after.cursor, all.cursor);
  await put(ch, 'c/four.txt', '4');
  const next = await (await ch.request(`/changes?since=${all.cursor}`)).json();
  assert.equal(next.changes.map((c: any) => c.path), ['c/four.txt']);
});

changes('limit pages through the feed with each change once', async () => {
  const whole = await (await ch.request('/changes')).json();
  const seen: any[] = [];
  let cursor = '';
  for (let i = 0; i < 50; i++) {
    const page = await (await ch.request(`/changes?since=${cursor}&limit=2`)).json();
    assert.ok(page.changes.length <= 2);
    if (page.changes.length === 0) break;
    seen.push(...page.changes);
    cursor = page.cursor;
  }
  assert.equal(seen, whole.changes);
  await errorOf(await ch.request('/changes?since=abc'), 400, 'bad_request');
  await errorOf(await ch.request('/changes?wait=-1'), 400, 'bad_request');
});

changes('wait= long-polls and returns early when a change arrives', async () => {
  const { cursor } = await (await ch.request('/changes')).json();
  const started = Date.now();
  const timer = setTimeout(() => void put(ch, 'c/late.txt', 'late'), 200);
  const res = await ch.request(`/changes?since=${cursor}&wait=10`);
  const took = Date.now() - started;
  clearTimeout(timer);
  const page = await res.json();
  assert.equal(page.changes.map((c: any) => c.path), ['c/late.txt']);
  assert.ok(took >= 150 && took < 3000, `returned after ${took} ms (wait was 10 s)`);
  const quiet = Date.now();
  const none = await (await ch.request(`/changes?since=${page.cursor}&wait=0.3`)).json();
  assert.equal(none.changes, []);
  assert.ok(Date.now() - quiet >= 250, 'waited when nothing changed');
});

changes.run();
