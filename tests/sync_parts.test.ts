// The parts of `nuvem sync` without a cluster: the SQLite state (round trip,
// one mirror per folder), the local scan (no symlinks, ignore rules, names
// the store would change), hashing, the remote view (ranks, implicit
// folders, lost writes), live scopes and local renames, and the client
// additions it needs (If-Match on DELETE and MOVE, a preferred node).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { statusLine } from '../client/cli_sync.ts';
import { compileIgnore } from '../client/ignore_rules.ts';
import { hashInto, scanTree } from '../client/local_tree.ts';
import { clusterCaughtUp, recordsOfChange, RemoteView, type RemoteRecord } from '../client/remote_view.ts';
import { deleteRequest, moveRequest } from '../client/requests.ts';
import { selectNodes, type NodeView } from '../client/selection.ts';
import { expandScope, pairLocalRenames } from '../client/sync_scope.ts';
import { SyncState } from '../client/sync_state.ts';
import type { BaseEntry, LocalEntry, RemoteEntry, SyncAction } from '../client/sync_types.ts';
import { tempDir } from './_support/temp.ts';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const file = (content: string, version: string): RemoteRecord => ({ kind: 'file', size: content.length, sha256: sha(content), version, deleted: false });

// ---

const state = suite('sync state (SQLite)');

state('base entries survive a close and reopen, mtimes exactly; forgetting works', () => {
  const dir = tempDir('sync-state');
  try {
    const s = SyncState.open(dir.path);
    const a: BaseEntry = { kind: 'file', size: 3, mtimeMs: 1767225600123.4567, sha256: sha('abc'), version: '01a24bfae9a4-0000-node-1' };
    s.set('a.txt', a);
    s.set('docs', { kind: 'folder', size: 0, mtimeMs: 0, sha256: '', version: '' });
    s.set('gone.txt', a);
    s.flush();
    s.set('gone.txt', undefined);
    assert.is(s.load().has('gone.txt'), false, 'queued changes count in load()');
    s.setMeta('remote', 'photos');
    s.close();
    const again = SyncState.open(dir.path);
    assert.equal(again.load(), new Map<string, BaseEntry>([['a.txt', a], ['docs', { kind: 'folder', size: 0, mtimeMs: 0, sha256: '', version: '' }]]));
    assert.is(again.meta('remote'), 'photos');
    again.close();
  } finally {
    dir.cleanup();
  }
});

state('a second mirror of the same folder is refused; a lock left by a dead process is taken over', () => {
  const dir = tempDir('sync-lock');
  try {
    const s = SyncState.open(dir.path);
    assert.throws(() => SyncState.open(dir.path), /another nuvem sync is running/);
    s.close();
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(join(dir.path, '.nuvem-sync/state.db.lock'), `${dead}\n`);
    SyncState.open(dir.path).close();
  } finally {
    dir.cleanup();
  }
});

state.run();

// ---

const local = suite('local scan');

local('files and folders, no symlinks, ignore rules applied while walking, odd names skipped', async () => {
  const dir = tempDir('sync-scan');
  try {
    const root = dir.path;
    mkdirSync(join(root, 'docs/deep'), { recursive: true });
    mkdirSync(join(root, 'build/x'), { recursive: true });
    mkdirSync(join(root, '.nuvem-sync/tmp'), { recursive: true });
    writeFileSync(join(root, 'docs/deep/a.txt'), 'a');
    writeFileSync(join(root, 'b.tmp'), 'b');
    writeFileSync(join(root, 'build/x/c'), 'c');
    writeFileSync(join(root, '.nuvem-sync/state.db'), '');
    writeFileSync(join(root, 'Cafe\u0301.txt'), 'not NFC');
    symlinkSync(join(root, 'docs'), join(root, 'link'));
    const skipped: string[] = [];
    const scanned = await scanTree(root, { ignore: compileIgnore('*.tmp\nbuild/\n'), onSkip: (p) => skipped.push(p) });
    assert.equal([...scanned.keys()].sort(), ['docs', 'docs/deep', 'docs/deep/a.txt']);
    assert.equal(scanned.get('docs/deep/a.txt')?.size, 1);
    assert.equal(skipped.sort(), ['Cafe\u0301.txt', 'link']);
    await hashInto(root, scanned, ['docs/deep/a.txt']);
    assert.is(scanned.get('docs/deep/a.txt')?.sha256, sha('a'));
    rmSync(join(root, 'docs/deep/a.txt'));
    await hashInto(root, scanned, ['docs/deep/a.txt']);
    assert.is(scanned.has('docs/deep/a.txt'), false, 'a file gone while hashing is dropped');
  } finally {
    dir.cleanup();
  }
});

local.run();

// ---

const view = suite('remote view');

view('implicit folders come and go with their contents; explicit ones stay', () => {
  const v = new RemoteView();
  v.apply('a/b/c.txt', file('c', 'v1'));
  assert.equal([...v.entries.keys()].sort(), ['a', 'a/b', 'a/b/c.txt']);
  assert.is(v.get('a')?.version, '');
  v.apply('a/kept', { kind: 'folder', size: 0, sha256: '', version: 'v2', deleted: false });
  v.apply('a/b/c.txt', { ...file('', 'v3'), deleted: true, prev: 'v1' });
  assert.equal([...v.entries.keys()].sort(), ['a', 'a/kept']);
});

view('a late or repeated notice never undoes a newer one; an edit beats a concurrent delete', () => {
  const v = new RemoteView();
  assert.ok(v.apply('x', file('two', 'v2')));
  assert.not.ok(v.apply('x', file('one', 'v1')), 'older');
  assert.not.ok(v.apply('x', file('two', 'v2')), 'the same again');
  assert.ok(v.apply('x', { ...file('', 'v4'), deleted: true, prev: 'v2' }));
  assert.is(v.get('x'), undefined);
  assert.ok(v.apply('x', file('three', 'v3')), 'an edit of v2 made concurrently with its delete wins');
  assert.is(v.get('x')?.sha256, sha('three'));
});

view('a base entry equal to the listed one takes its place (one object per path); a different one does not', () => {
  const v = new RemoteView();
  v.replace(new Map([['a', file('a', 'v1')], ['b', file('b', 'v1')]]));
  const same = { kind: 'file' as const, size: 1, mtimeMs: 5, sha256: sha('a'), version: 'v1' };
  v.share('a', same);
  assert.is(v.get('a'), same);
  const other = { ...same, sha256: sha('x') };
  v.share('b', other);
  assert.is.not(v.get('b'), other);
  assert.is(v.get('b')!.sha256, sha('b'));
  v.share('c', same); // nothing there: nothing added
  assert.is(v.get('c'), undefined);
});

view('a listing replaces the view, but not where a notice is newer or came while it ran', () => {
  const v = new RemoteView();
  v.replace(new Map([['a', file('a', 'v1')], ['b', file('b', 'v1')]]));
  v.apply('a', file('a2', 'v5'));
  v.apply('new', file('n', 'v6'));
  v.replace(new Map([['a', file('a', 'v1')], ['b', file('b', 'v1')]])); // from a node that is behind
  assert.is(v.get('a')?.version, 'v5');
  assert.is(v.get('new')?.version, 'v6');
  v.replace(new Map([['a', file('a2', 'v5')]]));
  assert.equal([...v.entries.keys()], ['a'], 'b and new are gone for good');
});

view("a write of this mirror's replaced by one from the same base is a lost write; one built on it is not", () => {
  const base = (version: string): BaseEntry => ({ kind: 'file', size: 1, mtimeMs: 1, sha256: sha('mine'), version });
  const v = new RemoteView();
  v.apply('f', { ...file('base', 'v1') });
  v.wrote('f', file('mine', 'v2'), { parent: 'v1' });
  v.apply('f', { ...file('theirs', 'v3'), prev: 'v1' });
  assert.ok(v.lostWrite('f', base('v2')));
  const w = new RemoteView();
  w.wrote('g', file('mine', 'v2'), { parent: 'v1' });
  w.apply('g', { ...file('next', 'v3'), prev: 'v2' });
  w.apply('g', { ...file('after', 'v4'), prev: 'v3' });
  assert.not.ok(w.lostWrite('g', base('v2')));
  // A new file made on two nodes at once: both replaced nothing.
  const n = new RemoteView();
  n.wrote('h', file('mine', 'v2'));
  n.apply('h', { ...file('mine', 'v2'), prev: undefined }); // its own notice
  n.apply('h', { ...file('theirs', 'v3'), prev: undefined });
  assert.ok(n.lostWrite('h', base('v2')));
});

view('a move notice under the synced folder is a record at its path and a tombstone at its old one', () => {
  const change = {
    path: 'photos/b/x.jpg', type: 'file', version: 'v9', size: 2, sha256: sha('xx'), modified: 0, contentType: 'image/jpeg',
    deleted: false, origin: 'node-1', seq: 4, op: 'move', from: 'photos/x.jpg', fromPrev: 'v3',
  } as const;
  assert.equal(recordsOfChange('photos', change), [
    ['b/x.jpg', { kind: 'file', size: 2, sha256: sha('xx'), version: 'v9', deleted: false, prev: undefined }],
    ['x.jpg', { kind: 'file', size: 0, sha256: '', version: 'v9', deleted: true, prev: 'v3' }],
  ]);
  assert.equal(recordsOfChange('other', change), []);
  assert.equal(recordsOfChange('', change).map(([p]) => p), ['photos/b/x.jpg', 'photos/x.jpg']);
});

view('the cluster is caught up when every online node holds every other online node\'s last change', () => {
  const node = (id: string, seq: number, applied: Record<string, number>, state = 'online') => ({ id, state, seq, applied });
  assert.ok(clusterCaughtUp([node('n1', 3, { n2: 1 }), node('n2', 1, { n1: 3 }), node('n3', 9, {}, 'offline')]));
  assert.not.ok(clusterCaughtUp([node('n1', 3, { n2: 1 }), node('n2', 1, { n1: 2 })]));
});

view.run();

// ---

const scope = suite('live scope and local renames');

const L = (content: string, extra: Partial<LocalEntry> = {}): LocalEntry => ({ kind: 'file', size: content.length, mtimeMs: 1, sha256: sha(content), ...extra });
const B = (content: string, version = 'v1'): BaseEntry => ({ kind: 'file', size: content.length, mtimeMs: 1, sha256: sha(content), version });
const R = (content: string, version = 'v1'): RemoteEntry => ({ kind: 'file', size: content.length, sha256: sha(content), version });
const F = { kind: 'folder', size: 0, mtimeMs: 0, sha256: '', version: 'f1' } as const;

scope('a changed path brings its ancestors, the contents of a folder, and the other half of a move', () => {
  const local = new Map<string, LocalEntry>([['new/place.bin', L('big')], ['dir', { kind: 'folder', size: 0, mtimeMs: 0 }], ['dir/in.txt', L('in')], ['other.txt', L('o')]]);
  const base = new Map<string, BaseEntry>([['old.bin', B('big')], ['dir', F], ['dir/in.txt', B('in')], ['other.txt', B('o')]]);
  const remote = new Map<string, RemoteEntry>([['old.bin', R('big')], ['dir', F], ['dir/in.txt', R('in')], ['other.txt', R('o')]]);
  assert.equal([...expandScope(['new/place.bin'], { local, remote, base })].sort(), ['new', 'new/place.bin', 'old.bin']);
  assert.equal([...expandScope(['old.bin'], { local, remote, base })].sort(), ['new/place.bin', 'old.bin']);
  assert.equal([...expandScope(['dir'], { local, remote, base })].sort(), ['dir', 'dir/in.txt']);
});

scope('a folder that is only the ancestor of a changed path, and agrees on all three sides, does not bring its contents', () => {
  const folder = { kind: 'folder', size: 0, mtimeMs: 0 } as const;
  const local = new Map<string, LocalEntry>([['dir', folder], ['dir/a.txt', L('a2')], ['dir/b.txt', L('b')], ['dir/c.txt', L('c')]]);
  const base = new Map<string, BaseEntry>([['dir', F], ['dir/a.txt', B('a')], ['dir/b.txt', B('b')], ['dir/c.txt', B('c')]]);
  const remote = new Map<string, RemoteEntry>([['dir', F], ['dir/a.txt', R('a')], ['dir/b.txt', R('b')], ['dir/c.txt', R('c')]]);
  // A 1,000-file folder planned whole for each of its files made a live pass O(folder), every pass.
  assert.equal([...expandScope(['dir/a.txt'], { local, remote, base })].sort(), ['dir', 'dir/a.txt']);
  // The folder itself changed: everything under it.
  assert.equal([...expandScope(['dir/a.txt', 'dir'], { local, remote, base })].sort(), ['dir', 'dir/a.txt', 'dir/b.txt', 'dir/c.txt']);
  // The ancestor does not agree (gone locally, a new remote version, no base): its contents come too.
  const all = ['dir', 'dir/a.txt', 'dir/b.txt', 'dir/c.txt'];
  const noLocalDir = new Map(local);
  noLocalDir.delete('dir');
  assert.equal([...expandScope(['dir/a.txt'], { local: noLocalDir, remote, base })].sort(), all);
  assert.equal([...expandScope(['dir/a.txt'], { local, remote: new Map([...remote, ['dir', { ...F, version: 'f2' }]]), base })].sort(), all);
  const noBaseDir = new Map(base);
  noBaseDir.delete('dir');
  assert.equal([...expandScope(['dir/a.txt'], { local, remote, base: noBaseDir })].sort(), all);
});

scope('a download of content a file about to be deleted has becomes a local rename', () => {
  const base = new Map<string, BaseEntry>([['a/x.bin', B('xx')], ['y.txt', B('yy')]]);
  const actions: SyncAction[] = [
    { type: 'download', path: 'b/x.bin', version: 'v2', size: 2, sha256: sha('xx') },
    { type: 'download', path: 'z.txt', version: 'v3', size: 1, sha256: sha('z') },
    { type: 'deleteLocal', path: 'y.txt', kind: 'file' },
    { type: 'deleteLocal', path: 'a/x.bin', kind: 'file' },
  ];
  assert.equal(pairLocalRenames(actions, base), [
    { type: 'renameLocal', from: 'a/x.bin', to: 'b/x.bin', version: 'v2', size: 2, sha256: sha('xx') },
    actions[1],
    actions[2],
  ]);
});

scope('the status line', () => {
  assert.is(statusLine({ files: 1, status: 'idle' }), 'nuvem sync: 1 file, idle');
  const last = { time: '2026-03-07T09:05:01.000Z', type: 'modified', path: 'notes.txt', kind: 'file', direction: 'up' } as const;
  assert.is(statusLine({ files: 12, status: 'syncing', last }), 'nuvem sync: 12 files, syncing, last: ↑ modified notes.txt at 09:05:01');
});

scope.run();

// ---

const client = suite('client additions');

client('DELETE and MOVE carry If-Match when asked', () => {
  assert.is(deleteRequest('a.txt', { ifMatch: 'v1' }).headers['if-match'], '"v1"');
  assert.equal(deleteRequest('a.txt').headers, {});
  const move = moveRequest('a.txt', 'b/a.txt', { ifMatch: 'v2', overwrite: false });
  assert.equal(move.headers, { destination: '/files/b/a.txt', overwrite: 'F', 'if-match': '"v2"' });
});

client('a preferred node goes first while it is eligible and has not failed', () => {
  const node = (id: string, latencyMs: number, extra: Partial<NodeView> = {}): NodeView => ({
    id, url: `http://127.0.0.1:${latencyMs}`, state: 'online', heartbeatAgeMs: 10, heartbeatMs: 1000, applied: {}, latencyMs, inflight: 0, ...extra,
  });
  const views = [node('fast', 1), node('slow', 200)];
  assert.is(selectNodes(views).nodes[0].id, 'fast');
  assert.is(selectNodes(views, { prefer: 'slow' }).nodes[0].id, 'slow');
  assert.is(selectNodes(views, { prefer: 'http://127.0.0.1:200' }).nodes[0].id, 'slow');
  assert.is(selectNodes([node('fast', 1), node('slow', 200, { failedRecently: true })], { prefer: 'slow' }).nodes[0].id, 'fast');
  assert.is(selectNodes([node('fast', 1), node('slow', 200, { state: 'offline' })], { prefer: 'slow' }).nodes[0].id, 'fast');
});

client.run();
