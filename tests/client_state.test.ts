/** What the client learns about the cluster (client/cluster_state.ts), on a fake clock. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChangeMessage, StatusMessage } from '../protocol/messages.ts';
import { ClusterState } from '../client/cluster_state.ts';
import { selectNodes } from '../client/selection.ts';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function status(id: string, over: Partial<StatusMessage> = {}): StatusMessage {
  return {
    id, url: `http://${id}:7001`, state: 'online', ts: 1_000_000, startedAt: 900_000, heartbeatMs: 1000, seq: 0,
    applied: {}, lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 2 }, inflight: 0, version: '0.1.0', ...over,
  };
}

function change(path: string, over: Partial<ChangeMessage> = {}): ChangeMessage {
  return {
    path, type: 'file', version: '0192f3a4b5c6-0000-n1', size: 1, sha256: 'a'.repeat(64), modified: 1, contentType: 'text/plain',
    deleted: false, origin: 'n1', seq: 1, op: 'put', ...over,
  };
}

const view = (state: ClusterState, id: string) => state.views().find((v) => v.id === id)!;

test('heartbeat age: live messages from arrival, retained ones from their ts; 3 missed heartbeats exclude', () => {
  const c = clock();
  const state = new ClusterState({ now: c.now, random: () => 0 });
  state.onStatus(status('n1'));
  state.onStatus(status('n2', { ts: c.t - 2500 }), { retained: true });
  assert.is(view(state, 'n1').heartbeatAgeMs, 0);
  assert.is(view(state, 'n2').heartbeatAgeMs, 2500);
  c.t += 600;
  assert.equal(selectNodes(state.views()).nodes.map((n) => n.id), ['n1']);
  c.t += 2500;
  assert.throws(() => selectNodes(state.views()), /n1: last heartbeat 3\.1 s ago/);
  state.onStatus(status('n1', { ts: c.t }));
  assert.equal(selectNodes(state.views()).nodes.map((n) => n.id), ['n1']);
  assert.is(state.report().find((r) => r.id === 'n2')?.state, 'silent');
  // A poll answered by n2 makes it usable again, but does not pass for a heartbeat on the bus.
  state.onStatus(status('n2', { ts: c.t }), { polled: { url: 'http://n2:7001', everyMs: 0 } });
  assert.equal(selectNodes(state.views()).nodes.map((n) => n.id), ['n1', 'n2']);
  assert.is(state.report().find((r) => r.id === 'n2')?.heartbeatAgeMs, 5600);
  assert.is(state.report().find((r) => r.id === 'n2')?.state, 'silent');
});

test('a Last Will (offline, with its old connect-time ts) counts; a late older heartbeat does not', () => {
  const c = clock();
  const state = new ClusterState({ now: c.now, random: () => 0 });
  state.onStatus(status('n1', { ts: c.t }));
  state.onStatus(status('n1', { ts: c.t - 50_000, state: 'offline' }));
  assert.is(view(state, 'n1').state, 'offline');
  assert.is(view(state, 'n1').heartbeatAgeMs, 0, 'age of the last heartbeat heard, not of the will');
  state.onStatus(status('n1', { ts: c.t + 10, applied: { n2: 5 } }));
  state.onStatus(status('n1', { ts: c.t + 5, applied: { n2: 4 } }));
  assert.equal(view(state, 'n1').applied, { n2: 5 });
});

test('latency: moving average without the first answer, forgotten after its TTL and when the node restarts', () => {
  const c = clock();
  const state = new ClusterState({ now: c.now, latencyWeight: 0.5, latencyTtlMs: 30_000 });
  state.onStatus(status('n1'));
  state.begin('n1').answered({ latencyMs: 140 });
  assert.is(view(state, 'n1').latencyMs, undefined, 'the first answer paid for connecting: not a sample');
  state.begin('n1').answered({ latencyMs: 10 });
  state.begin('n1').answered({ latencyMs: 20 });
  assert.is(view(state, 'n1').latencyMs, 15);
  c.t += 31_000;
  assert.is(view(state, 'n1').latencyMs, undefined);
  state.begin('n1').answered({ latencyMs: 4 });
  assert.is(view(state, 'n1').latencyMs, 4, 'an old average does not weigh on a new one');
  state.onStatus(status('n1', { ts: c.t, startedAt: c.t - 10 }));
  assert.is(view(state, 'n1').latencyMs, undefined);
  state.begin('n1').answered({ latencyMs: 90 });
  assert.is(view(state, 'n1').latencyMs, undefined, 'a restarted node is warmed up again');
});

test('in-progress requests add to inflight; a failure ranks the node last until it is heard from again', () => {
  const c = clock();
  const state = new ClusterState({ now: c.now, failurePenaltyMs: 10_000 });
  state.onStatus(status('n1', { inflight: 2 }));
  const a = state.begin('n1');
  const b = state.begin('n1');
  assert.is(view(state, 'n1').inflight, 4);
  a.answered({ latencyMs: 1 });
  a.finished();
  a.finished();
  assert.is(view(state, 'n1').inflight, 3);
  b.answered({ failed: true });
  assert.is(view(state, 'n1').inflight, 2);
  assert.is(view(state, 'n1').failedRecently, true);
  c.t += 100;
  state.onStatus(status('n1', { ts: c.t }));
  assert.is(view(state, 'n1').failedRecently, false);
  state.onFailure('n1');
  c.t += 10_001;
  assert.is(view(state, 'n1').failedRecently, false);
});

test('newest version per path: notices, acks, moves; older notices change nothing', () => {
  const state = new ClusterState();
  state.onChange(change('a.txt', { version: '0192f3a4b5c6-0000-n1', seq: 3 }));
  assert.equal(state.needsFor('a.txt'), [{ origin: 'n1', seq: 3, holders: ['n1'] }]);
  assert.is(state.minVersionFor('a.txt'), '0192f3a4b5c6-0000-n1');
  state.onChange(change('a.txt', { version: '0192f3a4b5c5-0000-n2', origin: 'n2', seq: 9 }));
  assert.is(state.known('a.txt')?.origin, 'n1');
  state.onAck({ node: 'n3', origin: 'n1', seq: 3, path: 'a.txt', version: '0192f3a4b5c6-0000-n1' });
  assert.equal(state.needsFor('a.txt')[0].holders, ['n1', 'n3']);
  state.onChange(change('b.txt', { op: 'move', from: 'a.txt', version: '0192f3a4b5c7-0000-n2', origin: 'n2', seq: 10 }));
  assert.equal(state.known('a.txt')?.deleted, true);
  assert.is(state.known('b.txt')?.seq, 10);
  assert.equal(state.needsFor('nothing-known'), []);
});

test("this client's writes: replicas count as holders, and listings need its latest change per origin", () => {
  const state = new ClusterState();
  state.onWrite({ path: 'a', version: '0192f3a4b5c6-0000-n1', origin: 'n1', seq: 4, replicas: ['n1', 'n2'], node: 'n1' });
  state.onWrite({ path: 'b', version: '0192f3a4b5c7-0000-n1', origin: 'n1', seq: 5, replicas: ['n1'], node: 'n1' });
  assert.equal(state.needsFor('a'), [{ origin: 'n1', seq: 4, holders: ['n1', 'n2'] }]);
  assert.equal(state.ownNeeds(), [{ origin: 'n1', seq: 5, holders: ['n1'] }]);
  assert.is(state.minVersionFor('b'), '0192f3a4b5c7-0000-n1');
});

test('a DELETE answers without a version: reads stick to the node that took it until the notice tells its seq', () => {
  const state = new ClusterState();
  state.onWrite({ path: 'a', version: '0192f3a4b5c6-0000-n1', origin: 'n1', seq: 4, replicas: ['n1', 'n2'] });
  state.onWrite({ path: 'a', node: 'n2', deleted: true });
  assert.equal(state.needsFor('a'), [{ origin: 'n2', seq: Infinity, holders: ['n2'] }]);
  assert.is(state.minVersionFor('a'), undefined, 'a node answers 404 for a delete, min_version cannot help');
  // The late notice of the PUT that came before changes nothing…
  state.onChange(change('a', { version: '0192f3a4b5c6-0000-n1', seq: 4 }));
  assert.is(state.known('a')?.seq, Infinity);
  // …the notice of the delete itself completes it.
  state.onChange(change('a', { op: 'delete', deleted: true, version: '0192f3a4b5c8-0000-n2', origin: 'n2', seq: 2 }));
  assert.equal(state.needsFor('a'), [{ origin: 'n2', seq: 2, holders: ['n2'] }]);
  assert.is(state.known('a')?.own, true);
});

test('node URLs given without a broker: known by URL until a poll tells the id', () => {
  const c = clock();
  const state = new ClusterState({ now: c.now, random: () => 0 });
  state.addUrl('http://h:1');
  state.addUrl('http://h:2');
  assert.equal(state.views().map((v) => [v.id, v.state]), [['http://h:1', 'unknown'], ['http://h:2', 'unknown']]);
  const track = state.begin('http://h:1');
  state.onStatus(status('n1', { url: 'http://elsewhere:9' }), { polled: { url: 'http://h:1', everyMs: 5000 } });
  track.answered({ latencyMs: 20 });
  state.begin('n1').answered({ latencyMs: 2 });
  state.onUnreachable('http://h:2', 'connect ECONNREFUSED');
  const n1 = view(state, 'n1');
  assert.is(n1.url, 'http://h:1', 'the URL that reached it is kept');
  assert.is(n1.latencyMs, 2);
  assert.is(n1.heartbeatMs, 5000, 'polled status stays fresh for 3 polling intervals');
  assert.is(state.idOf('http://h:1'), 'n1');
  assert.equal(state.report().map((r) => [r.id, r.state]), [['http://h:2', 'unreachable'], ['n1', 'online']]);
});

test('equal nodes come in an order of this client\'s own, drawn once per node', () => {
  const draws = [0.9, 0.1, 0.5];
  const state = new ClusterState({ random: () => draws.shift()! });
  for (const id of ['n1', 'n2', 'n3']) state.onStatus(status(id));
  assert.equal(state.views().map((v) => v.id), ['n2', 'n3', 'n1']);
  state.onStatus(status('n1', { ts: 1_000_001 }));
  assert.equal(state.views().map((v) => v.id), ['n2', 'n3', 'n1']);
});

test.run();
