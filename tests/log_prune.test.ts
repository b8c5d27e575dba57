/**
 * Change-log pruning: which entries may go (nodes/log_prune.ts, pure), what
 * a `/changes` reader below the pruned point gets (410 gone, a cursor to
 * resume from after relisting), what a peer catching up from it gets
 * (`/internal/log` 410 with the applied vector), that a node whose own
 * entries were all pruned never gives a seq twice after a restart, and that
 * the live feed of `nuvem watch` (client/feed.ts) goes on from the 410's
 * cursor. In-process nodes; the catch-up fallback runs in
 * log_prune_cluster.test.ts.
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers are read untyped in tests
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { logCutoff, pruneLog } from '../nodes/log_prune.ts';
import type { MemberApplied } from '../nodes/purge.ts';
import { Store } from '../nodes/store.ts';
import { createClient } from '../client/mod.ts';
import type { ChangeMessage } from '../protocol/messages.ts';
import { errorOf, put } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';
import { realNode } from './_support/real_node.ts';
import { until } from './_support/sleep.ts';
import { tempDir } from './_support/temp.ts';

// ---

const cutoff = suite('log prune: cutoff');

/** A log of entries (origin, seq) with ids 1, 2, …; `firstUnheld` over it. */
function logOf(entries: [string, number][]) {
  return {
    lastId: entries.length,
    origins: [...new Set(entries.map(([o]) => o))],
    firstUnheld: (origin: string, seq: number) => {
      const i = entries.findIndex(([o, s]) => o === origin && s > seq);
      return i < 0 ? undefined : i + 1;
    },
  };
}
const m = (id: string, applied?: Record<string, number>): MemberApplied => ({ id, applied });
const log = logOf([['a', 1], ['b', 1], ['a', 2], ['b', 2], ['a', 3], ['b', 3], ['a', 4], ['a', 5]]);

cutoff('below the first entry some member lacks, and never into the newest `keep`', () => {
  assert.is(logCutoff({ ...log, floor: 0, keep: 1, members: [m('a', { a: 5, b: 3 }), m('b', { a: 5, b: 3 })] }), 7, 'all held: all but the newest');
  assert.is(logCutoff({ ...log, floor: 0, keep: 3, members: [m('a', { a: 5, b: 3 }), m('b', { a: 5, b: 3 })] }), 5, 'the newest three stay');
  assert.is(logCutoff({ ...log, floor: 0, keep: 1, members: [m('a', { a: 5, b: 3 }), m('b', { a: 2, b: 3 })] }), 4, 'b lacks (a, 3), entry 5');
  assert.is(logCutoff({ ...log, floor: 0, keep: 1, members: [m('a', { a: 5, b: 1 }), m('b', { a: 5, b: 3 })] }), 3, 'a lacks (b, 2), entry 4');
  assert.is(logCutoff({ ...log, floor: 0, keep: 1, members: [m('a', { a: 5, b: 3 }), m('c', { a: 5 })] }), 1, 'c never heard of b');
});

cutoff('a member whose status is unknown holds everything back; the floor never goes down', () => {
  assert.is(logCutoff({ ...log, floor: 2, keep: 1, members: [m('a', { a: 5, b: 3 }), m('b')] }), 2);
  assert.is(logCutoff({ ...log, floor: 6, keep: 1, members: [m('a', { a: 1, b: 1 }), m('b', { a: 1, b: 1 })] }), 6);
});

cutoff.run();

// ---

const feed = suite('log prune: /changes and /internal/log');
let node: InProcessNode;
const self = () => [{ id: node.id, applied: node.store.applied() }];

feed.before(async () => {
  node = await inProcessNode({ changesKeep: 3 });
});
feed.after(() => node.close());

feed('a cursor below the pruned point answers 410 gone with the cursor to follow from after relisting', async () => {
  const first = await (await node.request('/changes?since=now')).json();
  assert.is(first.cursor, '0');
  for (let i = 0; i < 10; i++) assert.is((await put(node, `p/${i}.txt`, `${i}`)).status, 201);
  const before = await (await node.request('/changes?since=now')).json();
  // (The node's own anti-entropy pass may have pruned some already: it has no peers to wait for.)
  await node.store.pruneLog(self());
  assert.is(node.store.changesFloor(), 7, 'all but the newest three pruned');
  const gone = await errorOf(await node.request('/changes?since=0'), 410, 'gone');
  assert.is(gone.cursor, before.cursor, 'the newest cursor');
  assert.is(gone.floor, '7');
  await errorOf(await node.request('/changes?since=6&wait=1'), 410, 'gone');
  const kept = await (await node.request('/changes')).json();
  assert.equal(kept.changes.map((c: any) => c.path), ['p/7.txt', 'p/8.txt', 'p/9.txt'], 'no since: from the oldest kept');
  assert.equal((await (await node.request('/changes?since=7')).json()).changes.length, 3, 'the floor itself is a valid cursor');
  // Resync as the 410 says: relist, then follow from its cursor; a change after it is seen.
  const listed = await (await node.request('/files/p/')).json();
  assert.is(listed.entries.length, 10);
  assert.is((await put(node, 'p/10.txt', '10')).status, 201);
  const next = await (await node.request(`/changes?since=${gone.cursor}`)).json();
  assert.equal(next.changes.map((c: any) => c.path), ['p/10.txt']);
  const now = await (await node.request('/changes?since=now')).json();
  assert.equal(now, { changes: [], cursor: next.cursor });
  assert.is(node.store.logFor(node.id, 0, 100)[0].seq, 8, 'the peers\' log lost the same entries');
  const internal = await errorOf(await node.request(`/internal/log?origin=${node.id}&after=3`), 410, 'gone');
  assert.is(internal.floor, 7);
  assert.is(internal.applied[node.id], 11);
  assert.is((await (await node.request(`/internal/log?origin=${node.id}&after=7`)).json()).changes.length, 4);
  await errorOf(await node.request('/changes?since=later'), 400, 'bad_request');
});

feed.run();

// ---

const seqs = suite('log prune: seqs');

seqs('a node whose own log entries were all pruned still knows its last seq (where a restart continues), and gives the next one', async () => {
  const dir = tempDir('log-prune');
  const store = await Store.open({ dataDir: dir.path, nodeId: 'node-a', changesKeep: 1 });
  const body = (text: string) => (async function* () { yield Buffer.from(text); })();
  try {
    for (let i = 0; i < 3; i++) await store.put(`own/${i}`, body(`${i}`));
    // Peers' folders applied after them: this node's own entries are then the oldest.
    for (let s = 1; s <= 2; s++) {
      const change = { path: `theirs/${s}`, type: 'folder', version: `0000000000${s}0-0000-node-b`, size: 0, sha256: '', modified: 1, contentType: '', deleted: false, origin: 'node-b', seq: s, op: 'mkcol' } as const;
      await store.applyRemote({ ...change }, { advance: true, fetchContent: () => Promise.reject(new Error('no content')) });
    }
    const members = [{ id: 'node-a', applied: store.applied() }, { id: 'node-b', applied: store.applied() }];
    assert.is(await store.pruneLog(members), 4);
    assert.equal(store.logFor('node-a', 0, 10), [], 'every own entry pruned');
    // A restart's commit pipeline starts its seq at the index's maxSeq: the pruned seqs count.
    assert.is(store.index.maxSeq('node-a'), 3);
    assert.is(store.index.originFloor('node-b'), 1);
    const { record } = await store.put('own/next', body('n'));
    assert.is(record.seq, 4);
  } finally {
    store.close();
    dir.cleanup();
  }
});

seqs.run();

// ---

const watch = suite('log prune: the live feed');

watch('nuvem watch\'s feed, fallen behind past the pruned point, says so and goes on from the cursor the 410 gives', async () => {
  const { node: n, close } = await realNode();
  // Long-polls wait at this gate (a seam around the real fetch) while it is shut, so the feed falls behind on purpose.
  let polls = 0;
  let gate: Promise<void> | undefined;
  let open = () => {};
  const gated = async (input: string, init?: RequestInit) => {
    if (input.includes('wait=')) {
      polls++;
      if (gate) await gate;
    }
    return fetch(input, init);
  };
  const client = createClient({ nodes: [n.url], fetch: gated });
  const seen: ChangeMessage[] = [];
  const gaps: string[] = [];
  const stop = new AbortController();
  const body = (text: string) => (async function* () { yield Buffer.from(text); })();
  try {
    await client.ready();
    const following = client.watch((c) => seen.push(c), { signal: stop.signal, onGap: (r) => gaps.push(r) });
    await until('the first long-poll', () => polls === 1);
    gate = new Promise<void>((r) => (open = r));
    await n.store.put('w/first', body('1'));
    await until('the first change seen, the next poll at the gate', () => seen.length === 1 && polls === 2);
    for (let i = 0; i < 5; i++) await n.store.put(`w/missed-${i}`, body('x'));
    // The entries the feed has not read are pruned (the newest one kept, no peer behind).
    assert.ok(await pruneLog(n.store.index, { lastId: n.store.changesEnd(), keep: 1, members: [{ id: n.id, applied: n.store.applied() }] }) > 0);
    gate = undefined;
    open();
    await until('the gap reported', () => gaps.some((g) => /pruned/.test(g)));
    await n.store.put('w/after', body('2'));
    await until('the change after the gap seen', () => seen.some((c) => c.path === 'w/after'));
    assert.not.ok(seen.some((c) => c.path === 'w/missed-0'), 'pruned before the feed read it');
    stop.abort();
    await following;
  } finally {
    stop.abort();
    await client.close();
    await close();
  }
});

watch.run();
