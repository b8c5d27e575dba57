import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { needsHash, planSync } from '../client/sync_plan.ts';
import { changedPaths, expandScope, restrict } from '../client/sync_scope.ts';
import { prng } from './_support/bytes.ts';
import type { BaseEntry, LocalEntry, RemoteEntry, SyncAction } from '../client/sync_types.ts';

const options = { host: 'laptop', date: new Date('2026-03-07T09:05:01Z') };
const STAMP = 'conflict laptop 2026-03-07 090501';

interface Sides {
  local?: Record<string, LocalEntry>;
  remote?: Record<string, RemoteEntry>;
  base?: Record<string, BaseEntry>;
}

function plan(sides: Sides): SyncAction[] {
  return planSync({
    local: new Map(Object.entries(sides.local ?? {})),
    remote: new Map(Object.entries(sides.remote ?? {})),
    base: new Map(Object.entries(sides.base ?? {})),
  }, options);
}

const file = (size: number, mtimeMs: number, sha256?: string): LocalEntry => ({ kind: 'file', size, mtimeMs, sha256 });
const record = (sha256: string, version: string, size = 3): RemoteEntry => ({ kind: 'file', size, sha256, version });
const synced = (sha256: string, version: string, mtimeMs = 1000, size = 3): BaseEntry =>
  ({ kind: 'file', size, mtimeMs, sha256, version });
const dir = (mtimeMs = 1000): LocalEntry => ({ kind: 'folder', size: 0, mtimeMs });
const remoteDir = (version = 'd1'): RemoteEntry => ({ kind: 'folder', size: 0, sha256: '', version });
const baseDir = (version = 'd1'): BaseEntry => ({ kind: 'folder', size: 0, mtimeMs: 1000, sha256: '', version });

// --- the grid: one file, a.txt, in every state on each side, with and without a base

const grid = suite('grid');

type Side = 'absent' | 'unchanged' | 'changed' | 'deleted';
const SIDES: Side[] = ['absent', 'unchanged', 'changed', 'deleted'];

const BASE = synced('S0', 'v1');
// Unchanged locally: same size and mtime as the base and not hashed, which proves no hash is needed.
const LOCAL: Record<Side, LocalEntry | undefined> = {
  absent: undefined, deleted: undefined, unchanged: file(3, 1000), changed: file(5, 2000, 'SL'),
};
const REMOTE: Record<Side, RemoteEntry | undefined> = {
  absent: undefined, deleted: undefined, unchanged: record('S0', 'v1'), changed: record('SR', 'v2', 4),
};

const copy = `a (${STAMP}).txt`;
const upNew = { type: 'upload', path: 'a.txt', size: 5, sha256: 'SL', ifNoneMatch: '*' };
const down = { type: 'download', path: 'a.txt', version: 'v2', size: 4, sha256: 'SR' };
const conflict = [
  { type: 'conflict', path: 'a.txt', copy, kind: 'file' },
  { type: 'upload', path: copy, size: 5, sha256: 'SL', ifNoneMatch: '*' },
  down,
];

/** Expected plan per `local/remote/base`, or why the combination cannot exist. */
const EXPECTED: Record<string, SyncAction[] | string> = {};
const withBase = 'with a base, a missing entry is a delete: "absent" is spelled "deleted"';
const noBase = '"unchanged" and "deleted" are relative to a base; without one, a present entry is new ("changed")';
for (const l of SIDES) for (const r of SIDES) {
  if (l === 'absent' || r === 'absent') EXPECTED[`${l}/${r}/known`] = withBase;
  if (['unchanged', 'deleted'].includes(l) || ['unchanged', 'deleted'].includes(r)) EXPECTED[`${l}/${r}/unknown`] = noBase;
}
Object.assign(EXPECTED, {
  'unchanged/unchanged/known': [],
  'unchanged/changed/known': [down],
  'unchanged/deleted/known': [{ type: 'deleteLocal', path: 'a.txt', kind: 'file' }],
  'changed/unchanged/known': [{ type: 'upload', path: 'a.txt', size: 5, sha256: 'SL', ifMatch: 'v1' }],
  'changed/changed/known': conflict, // both changed differently
  'changed/deleted/known': [upNew], // edit wins over the remote delete
  'deleted/unchanged/known': [{ type: 'deleteRemote', path: 'a.txt', kind: 'file', ifMatch: 'v1' }],
  'deleted/changed/known': [down], // edit wins over the local delete
  'deleted/deleted/known': [{ type: 'forget', path: 'a.txt' }],
  'absent/absent/unknown': 'no entry anywhere: the path is not in any map',
  'absent/changed/unknown': [down],
  'changed/absent/unknown': [upNew],
  'changed/changed/unknown': conflict, // new on both sides, different content
});

for (const l of SIDES) for (const r of SIDES) for (const b of ['known', 'unknown'] as const) {
  const key = `${l}/${r}/${b}`;
  const expected = EXPECTED[key];
  if (typeof expected === 'string') continue;
  grid(`local ${l}, remote ${r}, base ${b}`, () => {
    const one = <T>(entry: T | undefined): Record<string, T> => (entry ? { 'a.txt': entry } : {});
    const base = b === 'known' ? one(BASE) : {};
    assert.equal(plan({ local: one(LOCAL[l]), remote: one(REMOTE[r]), base }), expected);
  });
}

grid('every combination is either planned or skipped for a stated reason', () => {
  assert.is(Object.keys(EXPECTED).length, SIDES.length * SIDES.length * 2);
  assert.is(Object.values(EXPECTED).filter((e) => typeof e !== 'string').length, 12);
});

grid.run();

// ---

const same = suite('identical content');

same('both changed to the same content: adopt, no transfer', () => {
  const actions = plan({ local: { 'a.txt': file(5, 2000, 'SX') }, remote: { 'a.txt': record('SX', 'v2', 5) }, base: { 'a.txt': BASE } });
  assert.equal(actions, [{ type: 'adoptBase', path: 'a.txt', base: synced('SX', 'v2', 2000, 5) }]);
});

same('new on both sides with the same content: adopt, no conflict', () => {
  const actions = plan({ local: { 'a.txt': file(5, 2000, 'SX') }, remote: { 'a.txt': record('SX', 'v9', 5) } });
  assert.equal(actions, [{ type: 'adoptBase', path: 'a.txt', base: synced('SX', 'v9', 2000, 5) }]);
});

same('only the mtime moved (same sha256): refresh the base, upload nothing', () => {
  const actions = plan({ local: { 'a.txt': file(3, 5000, 'S0') }, remote: { 'a.txt': REMOTE.unchanged! }, base: { 'a.txt': BASE } });
  assert.equal(actions, [{ type: 'adoptBase', path: 'a.txt', base: synced('S0', 'v1', 5000) }]);
});

same('mtime moved locally, content changed remotely: download', () => {
  const actions = plan({ local: { 'a.txt': file(3, 5000, 'S0') }, remote: { 'a.txt': REMOTE.changed! }, base: { 'a.txt': BASE } });
  assert.equal(actions, [down]);
});

same('mtime moved locally, remote deleted: the delete is honoured', () => {
  const actions = plan({ local: { 'a.txt': file(3, 5000, 'S0') }, base: { 'a.txt': BASE } });
  assert.equal(actions, [{ type: 'deleteLocal', path: 'a.txt', kind: 'file' }]);
});

same('a new remote version of the same bytes: adopt its version, no download', () => {
  const actions = plan({ local: { 'a.txt': file(3, 1000) }, remote: { 'a.txt': record('S0', 'v5') }, base: { 'a.txt': BASE } });
  assert.equal(actions, [{ type: 'adoptBase', path: 'a.txt', base: synced('S0', 'v5') }]);
});

same('a hash that differs from the base counts even when size and mtime match', () => {
  const actions = plan({ local: { 'a.txt': file(3, 1000, 'S1') }, remote: { 'a.txt': REMOTE.unchanged! }, base: { 'a.txt': BASE } });
  assert.equal(actions, [{ type: 'upload', path: 'a.txt', size: 3, sha256: 'S1', ifMatch: 'v1' }]);
});

same.run();

// ---

const hashing = suite('needsHash');

hashing('lists unhashed files that are new or whose size or mtime moved, sorted', () => {
  const local = new Map<string, LocalEntry>([
    ['z-new.txt', file(1, 1)],
    ['same.txt', file(3, 1000)],
    ['mtime.txt', file(3, 1001)],
    ['size.txt', file(4, 1000)],
    ['hashed.txt', file(9, 9, 'H')],
    ['was-folder', file(3, 1000)],
    ['folder', dir()],
  ]);
  const base = new Map<string, BaseEntry>([
    ['same.txt', BASE], ['mtime.txt', BASE], ['size.txt', BASE], ['was-folder', baseDir()], ['folder', baseDir()],
  ]);
  assert.equal(needsHash(local, base), ['mtime.txt', 'size.txt', 'was-folder', 'z-new.txt']);
});

hashing('planSync refuses to plan while a file still needs its hash', () => {
  assert.throws(() => plan({ local: { 'b.txt': file(1, 1) } }), /1 local file\(s\) need a sha256 first .*"b\.txt"/);
  assert.throws(() => plan({ local: { 'a.txt': file(3, 1001) }, base: { 'a.txt': BASE } }), /need a sha256/);
});

hashing.run();

// ---

const moves = suite('moves');

moves('a local rename becomes one MOVE: no upload, no delete', () => {
  const actions = plan({
    local: { 'new.txt': file(3, 7000, 'S0') },
    remote: { 'old.txt': record('S0', 'v1') },
    base: { 'old.txt': BASE },
  });
  assert.equal(actions, [{ type: 'move', from: 'old.txt', to: 'new.txt', ifMatch: 'v1', sha256: 'S0' }]);
});

moves('no MOVE when the remote changed the old path: download it back, upload the new one', () => {
  const actions = plan({
    local: { 'new.txt': file(3, 7000, 'S0') },
    remote: { 'old.txt': record('SR', 'v2', 4) },
    base: { 'old.txt': BASE },
  });
  assert.equal(actions, [
    { type: 'upload', path: 'new.txt', size: 3, sha256: 'S0', ifNoneMatch: '*' },
    { type: 'download', path: 'old.txt', version: 'v2', size: 4, sha256: 'SR' },
  ]);
});

moves('no MOVE onto a path the remote holds, or when the old file is still there (a copy)', () => {
  const taken = plan({
    local: { 'new.txt': file(3, 7000, 'S0') },
    remote: { 'old.txt': record('S0', 'v1'), 'new.txt': record('S0', 'v3') },
    base: { 'old.txt': BASE },
  });
  assert.equal(taken, [
    { type: 'deleteRemote', path: 'old.txt', kind: 'file', ifMatch: 'v1' },
    { type: 'adoptBase', path: 'new.txt', base: synced('S0', 'v3', 7000) },
  ]);
  const copied = plan({
    local: { 'old.txt': file(3, 1000), 'new.txt': file(3, 7000, 'S0') },
    remote: { 'old.txt': record('S0', 'v1') },
    base: { 'old.txt': BASE },
  });
  assert.equal(copied, [{ type: 'upload', path: 'new.txt', size: 3, sha256: 'S0', ifNoneMatch: '*' }]);
});

moves('several files with the same content pair up in path order, each path once', () => {
  const actions = plan({
    local: { 'x/1': file(3, 7000, 'S0'), 'x/2': file(3, 7000, 'S0'), 'x/3': file(3, 7000, 'S0'), x: dir() },
    remote: { a: record('S0', 'va'), b: record('S0', 'vb'), x: remoteDir() },
    base: { a: synced('S0', 'va'), b: synced('S0', 'vb'), x: baseDir() },
  });
  assert.equal(actions, [
    { type: 'move', from: 'a', to: 'x/1', ifMatch: 'va', sha256: 'S0' },
    { type: 'move', from: 'b', to: 'x/2', ifMatch: 'vb', sha256: 'S0' },
    { type: 'upload', path: 'x/3', size: 3, sha256: 'S0', ifNoneMatch: '*' },
  ]);
});

moves('empty files never pair: a delete and an upload', () => {
  const empty = 'E3B0';
  const actions = plan({
    local: { 'new.txt': file(0, 7000, empty) },
    remote: { 'old.txt': record(empty, 'v1', 0) },
    base: { 'old.txt': synced(empty, 'v1', 1000, 0) },
  });
  assert.equal(actions, [
    { type: 'upload', path: 'new.txt', size: 0, sha256: empty, ifNoneMatch: '*' },
    { type: 'deleteRemote', path: 'old.txt', kind: 'file', ifMatch: 'v1' },
  ]);
});

moves('a renamed folder: new folder first, then the moves, then the old folder goes', () => {
  const actions = plan({
    local: { new: dir(), 'new/a': file(3, 1000, 'SA'), 'new/b': file(3, 1000, 'SB') },
    remote: { old: remoteDir(), 'old/a': record('SA', 'va'), 'old/b': record('SB', 'vb') },
    base: { old: baseDir(), 'old/a': synced('SA', 'va'), 'old/b': synced('SB', 'vb') },
  });
  assert.equal(actions, [
    { type: 'mkdirRemote', path: 'new' },
    { type: 'move', from: 'old/a', to: 'new/a', ifMatch: 'va', sha256: 'SA' },
    { type: 'move', from: 'old/b', to: 'new/b', ifMatch: 'vb', sha256: 'SB' },
    { type: 'deleteRemote', path: 'old', kind: 'folder', ifMatch: 'd1' },
  ]);
});

moves.run();

// ---

const conflicts = suite('conflicts');

conflicts('a taken copy name gets a number', () => {
  const actions = plan({
    local: { 'a.txt': file(5, 2000, 'SL'), [copy]: file(1, 1, 'SC') },
    remote: { 'a.txt': record('SR', 'v2', 4), [copy]: record('SC', 'vc', 1) },
    base: { 'a.txt': BASE, [copy]: synced('SC', 'vc', 1, 1) },
  });
  const second = `a (${STAMP} 2).txt`;
  assert.equal(actions[0], { type: 'conflict', path: 'a.txt', copy: second, kind: 'file' });
  assert.ok(actions.some((a) => a.type === 'upload' && a.path === second && 'ifNoneMatch' in a));
});

conflicts('a conflict copy changed on both sides is uploaded over the remote, never copied again', () => {
  const actions = plan({
    local: { [copy]: file(5, 2000, 'SL') },
    remote: { [copy]: record('SR', 'v2', 4) },
    base: { [copy]: BASE },
  });
  assert.equal(actions, [{ type: 'upload', path: copy, size: 5, sha256: 'SL', ifMatch: 'v2' }]);
});

conflicts('a conflict copy new on both sides with different content: the local one is uploaded over', () => {
  const actions = plan({ local: { [copy]: file(5, 2000, 'SL') }, remote: { [copy]: record('SR', 'v2', 4) } });
  assert.equal(actions, [{ type: 'upload', path: copy, size: 5, sha256: 'SL', ifMatch: 'v2' }]);
});

conflicts('a local file where the remote has a folder: the file is set aside, the folder comes down', () => {
  const actions = plan({
    local: { p: file(3, 1000, 'SL') },
    remote: { p: remoteDir(), 'p/x': record('SX', 'vx') },
  });
  assert.equal(actions, [
    { type: 'conflict', path: 'p', copy: `p (${STAMP})`, kind: 'file' },
    { type: 'mkdirLocal', path: 'p' },
    { type: 'upload', path: `p (${STAMP})`, size: 3, sha256: 'SL', ifNoneMatch: '*' },
    { type: 'download', path: 'p/x', version: 'vx', size: 3, sha256: 'SX' },
  ]);
});

conflicts('a local folder where the remote has a file: the folder and its contents are set aside', () => {
  const actions = plan({
    local: { 'p.d': dir(), 'p.d/x': file(3, 1000) },
    remote: { 'p.d': record('SR', 'v2', 4) },
    base: { 'p.d': baseDir(), 'p.d/x': synced('S0', 'vx') },
  });
  const aside = `p (${STAMP}).d`;
  assert.equal(actions, [
    { type: 'conflict', path: 'p.d', copy: aside, kind: 'folder' },
    { type: 'mkdirRemote', path: aside },
    { type: 'upload', path: `${aside}/x`, size: 3, sha256: 'S0', ifNoneMatch: '*' },
    { type: 'download', path: 'p.d', version: 'v2', size: 4, sha256: 'SR' },
    { type: 'forget', path: 'p.d/x' },
  ]);
});

conflicts.run();

// ---

const folders = suite('folders');

folders('empty folders are created both ways; a folder on both sides is adopted once', () => {
  assert.equal(plan({ local: { up: dir() } }), [{ type: 'mkdirRemote', path: 'up' }]);
  assert.equal(plan({ remote: { down: remoteDir() } }), [{ type: 'mkdirLocal', path: 'down' }]);
  assert.equal(plan({ local: { both: dir(5) }, remote: { both: remoteDir('d7') } }),
    [{ type: 'adoptBase', path: 'both', base: { kind: 'folder', size: 0, mtimeMs: 5, sha256: '', version: 'd7' } }]);
  assert.equal(plan({ local: { both: dir(9) }, remote: { both: remoteDir() }, base: { both: baseDir() } }), [],
    'a folder\'s mtime moves with its contents and means nothing');
});

folders('a folder deleted locally is deleted remotely, contents first', () => {
  const actions = plan({
    remote: { f: remoteDir(), 'f/a': record('SA', 'va'), 'f/g': remoteDir('g1'), 'f/g/b': record('SB', 'vb') },
    base: { f: baseDir(), 'f/a': synced('SA', 'va'), 'f/g': baseDir('g1'), 'f/g/b': synced('SB', 'vb') },
  });
  assert.equal(actions, [
    { type: 'deleteRemote', path: 'f/g/b', kind: 'file', ifMatch: 'vb' },
    { type: 'deleteRemote', path: 'f/g', kind: 'folder', ifMatch: 'g1' },
    { type: 'deleteRemote', path: 'f/a', kind: 'file', ifMatch: 'va' },
    { type: 'deleteRemote', path: 'f', kind: 'folder', ifMatch: 'd1' },
  ]);
});

folders('a folder deleted locally while the remote added a file under it keeps that file', () => {
  const actions = plan({
    remote: { f: remoteDir(), 'f/a': record('SA', 'va'), 'f/g': remoteDir('g1'), 'f/g/new': record('SN', 'vn') },
    base: { f: baseDir(), 'f/a': synced('SA', 'va'), 'f/g': baseDir('g1') },
  });
  assert.equal(actions, [
    { type: 'mkdirLocal', path: 'f' },
    { type: 'mkdirLocal', path: 'f/g' },
    { type: 'download', path: 'f/g/new', version: 'vn', size: 3, sha256: 'SN' },
    { type: 'deleteRemote', path: 'f/a', kind: 'file', ifMatch: 'va' },
  ]);
});

folders('a folder deleted remotely while a local file under it changed keeps that file', () => {
  const actions = plan({
    local: { f: dir(), 'f/a': file(3, 1000), 'f/b': file(5, 2000, 'SL'), 'f/empty': dir() },
    base: { f: baseDir(), 'f/a': synced('S0', 'va'), 'f/b': synced('S0', 'vb'), 'f/empty': baseDir('e1') },
  });
  assert.equal(actions, [
    { type: 'mkdirRemote', path: 'f' },
    { type: 'upload', path: 'f/b', size: 5, sha256: 'SL', ifNoneMatch: '*' },
    { type: 'deleteLocal', path: 'f/empty', kind: 'folder' },
    { type: 'deleteLocal', path: 'f/a', kind: 'file' },
  ]);
});

folders('a folder new on one side inside one deleted on the other keeps both', () => {
  const actions = plan({
    local: { f: dir(), 'f/new': dir() },
    base: { f: baseDir() },
  });
  assert.equal(actions, [{ type: 'mkdirRemote', path: 'f' }, { type: 'mkdirRemote', path: 'f/new' }]);
});

folders('a folder gone on both sides is forgotten', () => {
  assert.equal(plan({ base: { f: baseDir(), 'f/a': BASE } }), [{ type: 'forget', path: 'f' }, { type: 'forget', path: 'f/a' }]);
});

folders.run();

// ---

const order = suite('run order');

order('renames, then folders parents first, moves, transfers, deletes children first, bookkeeping', () => {
  const actions = plan({
    local: { c: file(5, 2000, 'SL'), n: dir(), 'n/m': dir(), 'n/m/moved': file(3, 1000, 'SM'), up: file(1, 1, 'SU'), same: file(2, 2, 'SS') },
    remote: { c: record('SR', 'v2'), down: record('SD', 'vd'), old: remoteDir(), 'old/moved': record('SM', 'vm'), 'old/x': record('SX', 'vx'), same: record('SS', 'vs', 2) },
    base: { c: BASE, old: baseDir(), 'old/moved': synced('SM', 'vm'), 'old/x': synced('SX', 'vx'), gone: BASE },
  });
  assert.equal(actions.map((a) => `${a.type} ${a.type === 'move' ? `${a.from}>${a.to}` : a.path}`), [
    'conflict c',
    'mkdirRemote n',
    'mkdirRemote n/m',
    'move old/moved>n/m/moved',
    'download c',
    `upload c (${STAMP})`,
    'download down',
    'upload up',
    'deleteRemote old/x',
    'deleteRemote old',
    'forget gone',
    'adoptBase same',
  ]);
});

order.run();

// ---

const partial = suite('a full pass plans only the paths that changed');

/** A small tree in which every side of every path is drawn at random, the way a full pass finds it. */
function randomSides(next: () => number): { local: Map<string, LocalEntry>; remote: Map<string, RemoteEntry>; base: Map<string, BaseEntry> } {
  const PATHS = ['a', 'a/x.txt', 'a/y.txt', 'a/b', 'a/b/z.txt', 'm.bin', 'n.bin', 'top.txt', 'q', 'q/r.txt'];
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)];
  const local = new Map<string, LocalEntry>();
  const remote = new Map<string, RemoteEntry>();
  const base = new Map<string, BaseEntry>();
  for (const path of PATHS) {
    const folderish = !path.includes('.');
    const b = pick(['none', 'same', 'same', 'same']);
    const content = () => pick(['S0', 'S0', 'S1', 'S2']);
    if (b !== 'none') base.set(path, folderish ? baseDir() : synced('S0', 'v1'));
    const l = pick(['absent', 'same', 'same', 'touched', 'content', 'kind']);
    if (l === 'same' || l === 'touched') {
      if (folderish) local.set(path, dir());
      else if (l === 'same' && b !== 'none') local.set(path, file(3, 1000));
      else local.set(path, file(3, l === 'touched' ? 2000 : 1000, 'S0'));
    } else if (l === 'content') local.set(path, folderish ? dir() : file(4, 3000, content()));
    else if (l === 'kind') local.set(path, folderish ? file(4, 3000, content()) : dir());
    const r = pick(['absent', 'same', 'same', 'version', 'content', 'kind']);
    if (r === 'same') remote.set(path, folderish ? remoteDir() : record('S0', 'v1'));
    else if (r === 'version') remote.set(path, folderish ? remoteDir('d2') : record('S0', 'v2'));
    else if (r === 'content') remote.set(path, folderish ? remoteDir('d3') : record(content(), 'v3', 4));
    else if (r === 'kind') remote.set(path, folderish ? record(content(), 'v4', 4) : remoteDir('d4'));
  }
  // As on a real disk or store: whatever is inside a path needs that path to be a folder on the same side.
  for (const map of [local, remote, base] as Map<string, { kind: string }>[]) {
    for (const path of [...map.keys()].sort()) {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      if (parent !== '' && map.get(parent)?.kind !== 'folder') map.delete(path);
    }
  }
  for (const path of needsHash(local, base)) local.set(path, { ...local.get(path)!, sha256: 'S0' }); // its base went with its folder
  return { local, remote, base };
}

partial('planning the scope of changedPaths gives the same plan as planning everything (2000 random trees)', () => {
  const next = prng(15);
  let nonEmpty = 0;
  for (let i = 0; i < 2000; i++) {
    const sides = randomSides(next);
    const whole = planSync(sides, options);
    const scope = expandScope(changedPaths(sides, () => false), sides);
    const scoped = planSync({ local: restrict(sides.local, scope), remote: restrict(sides.remote, scope), base: restrict(sides.base, scope) }, options);
    assert.equal(scoped, whole, `tree ${i}: ${JSON.stringify({ local: [...sides.local], remote: [...sides.remote], base: [...sides.base] })}`);
    if (whole.length > 0) nonEmpty++;
  }
  assert.ok(nonEmpty > 1000, `${nonEmpty} trees needed actions`);
});

partial('an unchanged tree has no changed paths; ignored paths are left out', () => {
  const local = new Map<string, LocalEntry>([['a', dir()], ['a/x.txt', file(3, 1000)], ['keep.log', file(3, 1000)]]);
  const remote = new Map<string, RemoteEntry>([['a', remoteDir()], ['a/x.txt', record('S0', 'v1')], ['new.log', record('S1', 'v1')]]);
  const base = new Map<string, BaseEntry>([['a', baseDir()], ['a/x.txt', synced('S0', 'v1')], ['keep.log', synced('S0', 'v1')]]);
  assert.equal(changedPaths({ local, remote, base }, () => false), ['keep.log', 'new.log']);
  assert.equal(changedPaths({ local, remote, base }, (p) => p.endsWith('.log')), []);
  local.set('a/x.txt', file(3, 1001)); // touched: hashed, then its base refreshed
  assert.equal(changedPaths({ local, remote, base }, () => true), []);
  assert.equal(changedPaths({ local, remote, base }, (p) => p.endsWith('.log')), ['a/x.txt']);
});

partial.run();
