/**
 * Tombstone purge without sockets: which tombstones may go (nodes/purge.ts),
 * how the store forgets them (only that version, revisions kept), that a node
 * applying a move holds its tombstone (what the purge relies on), and that
 * anti-entropy between two stores neither brings a purged tombstone back nor
 * stops a live record and a tombstone from converging on the higher rank.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repairFrom } from '../nodes/anti_entropy.ts';
import { NuvemError } from '../protocol/errors.ts';
import type { Member } from '../nodes/membership.ts';
import { appliedByAll, PurgePlanner, type MemberApplied, type Tombstone } from '../nodes/purge.ts';
import type { Change, FileRecord } from '../protocol/record.ts';
import type { Replicator } from '../nodes/replicator.ts';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';
import { bucketOf } from '../protocol/digest_buckets.ts';

const t = (origin: string, seq: number, path = `${origin}-${seq}`): Tombstone => ({ path, origin, seq, version: `v-${origin}-${seq}` });
const m = (id: string, applied?: Record<string, number>): MemberApplied => ({ id, applied });
const paths = (ts: Tombstone[]) => ts.map((x) => x.path).sort();

// ---

const rule = suite('purge: applied by every member');

const cases: { name: string; tombstones: Tombstone[]; members: MemberApplied[]; purged: string[] }[] = [
  {
    name: 'all members ahead: purged',
    tombstones: [t('a', 5), t('b', 2)],
    members: [m('a', { a: 5, b: 2 }), m('b', { a: 7, b: 2 }), m('c', { a: 5, b: 3, c: 1 })],
    purged: ['a-5', 'b-2'],
  },
  {
    name: 'one member offline and behind: nothing',
    tombstones: [t('a', 5)],
    members: [m('a', { a: 5 }), m('b', { a: 5 }), m('c', { a: 4 })],
    purged: [],
  },
  {
    name: 'a member whose status is unknown: nothing, not even what the others all hold',
    tombstones: [t('a', 1), t('a', 5)],
    members: [m('a', { a: 5 }), m('b', { a: 5 }), m('c')],
    purged: [],
  },
  {
    name: 'a member that never heard of the origin: nothing',
    tombstones: [t('a', 1)],
    members: [m('a', { a: 1 }), m('b', {})],
    purged: [],
  },
  {
    name: 'the origin holds its own changes whatever its vector says',
    tombstones: [t('a', 9)],
    members: [m('a', {}), m('b', { a: 9 })],
    purged: ['a-9'],
  },
  {
    name: 'only the tombstones every member reached',
    tombstones: [t('a', 3), t('a', 4), t('b', 1), t('b', 2)],
    members: [m('a', { a: 4, b: 1 }), m('b', { a: 3, b: 2 })],
    purged: ['a-3', 'b-1'],
  },
  {
    name: 'no members but this node: its own applied vector decides',
    tombstones: [t('a', 2), t('x', 4), t('x', 5)],
    members: [m('a', { a: 2, x: 4 })],
    purged: ['a-2', 'x-4'],
  },
];

for (const c of cases) {
  rule(c.name, () => {
    assert.equal(paths(appliedByAll(c.tombstones, c.members)), c.purged);
    // With settled vectors (every member holds what any other does), the planner agrees.
    assert.equal(paths(new PurgePlanner().plan(c.tombstones, c.members)), settled(c.members) ? c.purged : []);
  });
}

/** Does every member hold everything any member applied? */
function settled(members: MemberApplied[]): boolean {
  if (members.some((x) => !x.applied)) return false;
  return members.every((a) => members.every((b) => Object.entries(b.applied!).every(([o, s]) => a.id === o || (a.applied![o] ?? 0) >= s)));
}

rule.run();

// ---

const planner = suite('purge: planner');

planner('a member that lags on another origin blocks the purge: the deleted version could still reach it', () => {
  // x wrote the version (x, 3); o applied it and deleted it as (o, 5); n holds
  // the delete but not yet x's write, which would come back live if n forgot the tombstone.
  const p = new PurgePlanner();
  const tomb = t('o', 5, 'doc');
  assert.equal(p.plan([tomb], [m('o', { o: 5, x: 3 }), m('x', { x: 3, o: 5 }), m('n', { o: 5, x: 2 })]), []);
  assert.equal(p.plan([tomb], [m('o', { o: 5, x: 3 }), m('x', { x: 3, o: 5 }), m('n', { o: 5, x: 3 })]), [tomb]);
});

planner('while writes keep coming, a tombstone goes once every member holds what the previous pass saw', () => {
  const p = new PurgePlanner();
  const early = t('a', 9, 'early');
  const late = t('a', 11, 'late');
  // Pass 1: b holds a's seq 9 (and a lacks b's 8): nothing settled, nothing purged.
  assert.equal(p.plan([early], [m('a', { a: 10, b: 7 }), m('b', { a: 9, b: 8 })]), []);
  // Pass 2: still not settled now, but both hold pass 1's frontier {a: 10, b: 8}:
  // what all held in pass 1 goes; the tombstone all hold only now waits.
  assert.equal(p.plan([early, late], [m('a', { a: 12, b: 9 }), m('b', { a: 11, b: 10 })]), [early]);
  // Pass 3: pass 2's frontier {a: 12, b: 10} is reached.
  assert.equal(p.plan([late], [m('a', { a: 14, b: 10 }), m('b', { a: 12, b: 12 })]), [late]);
});

planner('a pass with an unknown member, or another set of members, is no basis for the next one', () => {
  const tomb = t('a', 3);
  const p = new PurgePlanner();
  assert.equal(p.plan([tomb], [m('a', { a: 4, b: 1 }), m('b', { a: 3, b: 2 }), m('c')]), []);
  assert.equal(p.plan([tomb], [m('a', { a: 5, b: 2 }), m('b', { a: 4, b: 2 }), m('c', { a: 3 })]), [], 'pass 1 knew no vector of c');
  const q = new PurgePlanner();
  assert.equal(q.plan([tomb], [m('a', { a: 4, b: 1 }), m('b', { a: 3, b: 2 })]), []);
  assert.equal(q.plan([tomb], [m('a', { a: 5, b: 2 }), m('b', { a: 5, b: 2 }), m('c', { a: 5, b: 2 })]), [tomb], 'settled now');
  const r = new PurgePlanner();
  assert.equal(r.plan([tomb], [m('a', { a: 4, b: 1 }), m('b', { a: 3, b: 2 })]), []);
  assert.equal(r.plan([tomb], [m('a', { a: 5, b: 2 }), m('b', { a: 4, b: 3 }), m('c', { a: 5, b: 2 })]), [], 'c joined since pass 1');
});

planner.run();

// ---

const store = suite('purge: store');
const open: { store: Store; cleanup(): void }[] = [];

/** A store without a trash (`trashMs` 0, `--trash-days 0`), unless `trashMs` says otherwise. */
async function newStore(id: string, options: { trashMs?: number } = {}): Promise<Store> {
  const dir = tempDir('purge');
  const s = await Store.open({ dataDir: dir.path, nodeId: id, trashMs: options.trashMs ?? 0 });
  open.push({ store: s, cleanup: dir.cleanup });
  return s;
}

async function* bytes(text: string): AsyncIterable<Uint8Array> {
  yield Buffer.from(text);
}

const noContent = async (): Promise<AsyncIterable<Uint8Array>> => {
  throw new Error('no content should be fetched');
};

/** The content of a path (or of a kept version of it) as text. */
async function text(s: Store, path: string, version?: string): Promise<string> {
  const r = await s.read(path, { version });
  return new Response((await r.open(0, r.record.size - 1)) as BodyInit).text();
}

/** Gives `to` the record `r` of `peer`: as anti-entropy would, or with `advance` as in its origin's order. */
async function copy(to: Store, peer: Store, r: FileRecord, options = { advance: false }): Promise<void> {
  const change: Change = { ...r, op: r.deleted ? 'delete' : 'put' };
  await to.applyRemote(change, { ...options, fetchContent: async () => (await peer.openContent(r.sha256))!.body as unknown as AsyncIterable<Uint8Array> });
}

store.after.each(() => {
  for (const o of open.splice(0)) {
    o.store.close();
    o.cleanup();
  }
});

store('a purged tombstone leaves no record and no revisions (out of the trash), and the digest equals a store that never had the path', async () => {
  const a = await newStore('node-a');
  const { record: live } = await a.put('docs/a.txt', bytes('hello'));
  const [tomb] = await a.remove('docs/a.txt');
  assert.equal([...a.index.tombstones()], [{ path: 'docs/a.txt', origin: 'node-a', seq: tomb.seq, version: tomb.version }]);
  assert.is(a.index.totals().tombstones, 1);
  assert.equal(await a.digest(), {}, 'a tombstone is not in the digest');
  assert.is(await a.purge([{ path: 'docs/a.txt', version: tomb.version }]), 1);
  assert.is(a.get('docs/a.txt'), undefined);
  assert.equal([...a.index.tombstones()], []);
  assert.is(a.index.totals().tombstones, 0);
  assert.equal(a.revisions('docs/a.txt'), []);
  await a.read('docs/a.txt', { version: live.version }).then(() => assert.unreachable('the deleted version is gone'), (e: NuvemError) => assert.is(e.code, 'not_found'));
  assert.throws(() => a.stat('docs/a.txt'), (e: NuvemError) => e.code === 'not_found');
});

store('a tombstone in the trash is not purged, whatever the planner says; once out of it, it goes with its revisions', async () => {
  let now = Date.now();
  const dir = tempDir('purge');
  const a = await Store.open({ dataDir: dir.path, nodeId: 'node-a', trashMs: 60_000, now: () => now });
  open.push({ store: a, cleanup: dir.cleanup });
  const { record: live } = await a.put('t.txt', bytes('in the trash'));
  const [tomb] = await a.remove('t.txt');
  assert.is(await a.purge([{ path: 't.txt', version: tomb.version }]), 0);
  assert.equal(a.get('t.txt'), tomb);
  assert.equal(a.trash('', { limit: 10 }).entries.map((e) => [e.path, e.version]), [['t.txt', live.version]]);
  assert.is(await a.expireTrash(), 0, 'its revisions stay while it is in the trash');
  now += 60_000;
  assert.equal(a.trash('', { limit: 10 }).entries, []);
  assert.is(await a.purge([{ path: 't.txt', version: tomb.version }]), 1);
  assert.is(a.get('t.txt'), undefined);
  assert.equal(a.revisions('t.txt'), []);
});

store('only that tombstone goes: a path written or deleted again since keeps its newer record', async () => {
  const a = await newStore('node-a');
  await a.put('f', bytes('1'));
  const [t1] = await a.remove('f');
  const { record: again } = await a.put('f', bytes('2'));
  assert.is(await a.purge([{ path: 'f', version: t1.version }]), 0);
  assert.is(a.get('f')?.version, again.version);
  const [t2] = await a.remove('f');
  assert.is(await a.purge([{ path: 'f', version: t1.version }, { path: 'nothing-here', version: t1.version }]), 0);
  assert.equal(a.get('f'), t2);
  assert.is(await a.purge([{ path: 'f', version: t2.version }]), 1);
  assert.is(a.get('f'), undefined);
});

store('a node that applies a move holds its tombstone at `from`, even when the record at `to` is already there or loses', async () => {
  const b = await newStore('node-b');
  const moveOf = async (from: string, to: string): Promise<Change> => {
    await b.put(from, bytes(`moved from ${from}`));
    await b.move(from, to);
    return b.logFor('node-b', 0, 1000).find((c) => c.op === 'move' && c.from === from)!;
  };
  const prepared = async (change: Change): Promise<Store> => {
    const a = await newStore(`node-a${open.length}`);
    await copy(a, b, b.logFor('node-b', 0, 1000).find((c) => c.path === change.from && c.op === 'put')!);
    return a;
  };
  const assertMovedAway = (a: Store, change: Change, what: string) => {
    const left = a.get(change.from!);
    assert.ok(left?.deleted && left.version === change.version, `${what}: the tombstone at ${change.from}: ${JSON.stringify(left)}`);
    assert.throws(() => a.stat(change.from!), (e: NuvemError) => e.code === 'not_found', `${what}: ${change.from} is gone`);
  };

  // The record at `to` came first, through anti-entropy: the move is a duplicate there.
  const m1 = await moveOf('one/from', 'one/to');
  const a1 = await prepared(m1);
  await copy(a1, b, b.get('one/to')!);
  assert.is((await a1.applyRemote(m1, { advance: true, fetchContent: noContent })).outcome, 'duplicate');
  assertMovedAway(a1, m1, 'duplicate');

  // A newer version is at `to`: the moved record loses there, and is kept as a revision.
  const m2 = await moveOf('two/from', 'two/to');
  const a2 = await prepared(m2);
  a2.clock.observe(m2.version);
  await a2.put('two/to', bytes('newer'));
  assert.is((await a2.applyRemote(m2, { advance: true, fetchContent: noContent })).outcome, 'lost');
  assertMovedAway(a2, m2, 'lost');
  assert.is(await text(a2, 'two/to'), 'newer');

  // The moved content is gone everywhere: the move still counts, and still deletes `from`.
  const m3 = await moveOf('three/from', 'three/to');
  const a3 = await prepared(m3);
  await a3.markApplied(m3, { advance: true });
  assertMovedAway(a3, m3, 'content gone');
  assert.is(a3.applied()['node-b'], m3.seq);
});

store.run();

// ---

const repair = suite('purge: anti-entropy');

/** A replicator that serves `peer`'s digests and content straight from its store. */
function from(peer: Store): { replicator: Replicator; member: Member } {
  const member: Member = { id: peer.nodeId, url: 'http://peer.invalid', receivedAt: 0, verified: true };
  const replicator = {
    connected: false,
    isOnline: () => false,
    peersForRepair: () => [],
    get: async (_m: Member, target: string) =>
      target === '/internal/digest'
        ? Response.json({ buckets: await peer.digest() })
        : Response.json({ records: await peer.bucketRecords(Number(target.split('/').pop())) }),
    contentSource: (sha: string) => async () => (await peer.openContent(sha))!.body as unknown as AsyncIterable<Uint8Array>,
  } as unknown as Replicator;
  return { replicator, member };
}

const pull = (to: Store, peer: Store) => {
  const { replicator, member } = from(peer);
  return repairFrom(to, replicator, member);
};

/** Another path in the same digest bucket as `path`. */
function neighbour(path: string): string {
  for (let i = 0; ; i++) if (`n${i}` !== path && bucketOf(`n${i}`) === bucketOf(path)) return `n${i}`;
}

repair('a node that purged a tombstone and one that holds it agree; a live difference in that bucket does not bring it back', async () => {
  const a = await newStore('node-a');
  const b = await newStore('node-b');
  const { record } = await b.put('p', bytes('x'));
  await copy(a, b, record);
  const [tomb] = await b.remove('p');
  await copy(a, b, tomb);
  assert.is(await a.purge([{ path: 'p', version: tomb.version }]), 1);
  assert.equal(await a.digest(), await b.digest(), 'equal digests');
  assert.is(await pull(a, b), 0);
  // Now a live record in the same bucket differs: the bucket's records are compared.
  const { record: other } = await b.put(neighbour('p'), bytes('y'));
  assert.is(await pull(a, b), 1, 'the live neighbour is repaired');
  assert.equal(a.get(other.path), other);
  assert.is(a.get('p'), undefined, 'the purged tombstone is not taken again');
  assert.is(await pull(b, a), 0);
  assert.equal(b.get('p'), tomb, 'the other node keeps its tombstone until it purges it');
});

repair('after a purge, the deleted version is not taken back from a node that still holds it live (one joining and catching up)', async () => {
  const a = await newStore('node-a');
  const b = await newStore('node-b', { trashMs: 60_000 }); // still holds the deleted version's bytes for the late node
  const late = await newStore('node-c');
  const { record } = await b.put('s', bytes('deleted later'));
  const [tomb] = await b.remove('s');
  // a applies both in b's order; the late node has only the first so far.
  await copy(a, b, record, { advance: true });
  await copy(a, b, tomb, { advance: true });
  assert.is(a.applied()['node-b'], tomb.seq);
  await copy(late, b, record);
  assert.is(await a.purge([{ path: 's', version: tomb.version }]), 1);
  assert.is(await pull(a, late), 0);
  assert.is(a.get('s'), undefined, 'the deleted version stays deleted');
  // A path this node never had a change of is still repaired.
  const { record: fresh } = await late.put('t', bytes('new'));
  assert.is(await pull(a, late), 1);
  assert.equal(a.get('t'), fresh);
});

repair('a live record on one node and the tombstone that deleted it on another: the tombstone wins on both', async () => {
  const a = await newStore('node-a');
  const b = await newStore('node-b');
  const { record } = await b.put('q', bytes('old'));
  await copy(a, b, record);
  const [tomb] = await b.remove('q');
  // The bucket of 'q' holds no live record on b: its digest has no such bucket at all.
  assert.is((await b.digest())[String(bucketOf('q'))], undefined);
  assert.is(await pull(b, a), 0, 'b does not take the version it deleted');
  assert.is(await pull(a, b), 1);
  assert.equal(a.get('q'), tomb);
  assert.equal(await a.digest(), await b.digest());
});

repair('a modification concurrent with the delete wins over the tombstone on both nodes', async () => {
  const a = await newStore('node-a');
  const b = await newStore('node-b');
  const { record } = await b.put('r', bytes('old'));
  await copy(a, b, record);
  const [tomb] = await b.remove('r');
  const { record: modified } = await a.put('r', bytes('new'));
  assert.is(await pull(a, b), 0, 'a keeps its modification');
  assert.is(await pull(b, a), 1);
  assert.equal(b.get('r'), modified);
  assert.ok(modified.version > tomb.prev!, 'the modification is newer than the deleted version');
  assert.is(await text(b, 'r'), 'new');
});

repair.run();
