/**
 * The dashboard's model (functions/dashboard/model.js), the browser code that
 * holds the logic, run under Node with a fake clock: statuses and their
 * ageing into offline, the sparkline rates from heartbeat counters, the feed,
 * the freshness rule of the path box, and the broker URL a browser uses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  brokerUrlFor, cleanPath, ClusterView, fileUrl, formatBytes, holdersOf, newerOf, parseTopic, seriesOf, spanOf, sparkPoints, stateOf, WINDOW_MS,
} from '../functions/dashboard/model.js';

const T0 = 1_760_000_000_000;

function status(id: string, fields: Record<string, unknown> = {}) {
  return JSON.stringify({
    id, url: `http://127.0.0.1:700${id.slice(-1)}`, state: 'online', ts: T0, startedAt: T0 - 5000, heartbeatMs: 1000, seq: 0, applied: {},
    lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 2 }, inflight: 0, version: '0.1.0', cpu: 0.1, load: 0.5,
    mem: { rss: 1, free: 1, total: 2 }, requests: 0, traffic: { in: 0, out: 0 }, ...fields,
  });
}

test('topics under the prefix', () => {
  assert.equal(parseTopic('nuvem/nodes/n1/status', 'nuvem'), { kind: 'status', node: 'n1' });
  assert.equal(parseTopic('nuvem/files/a/b.txt', 'nuvem'), { kind: 'file' });
  assert.equal(parseTopic('nuvem/events/n1', 'nuvem'), { kind: 'event', node: 'n1' });
  assert.is(parseTopic('other/nodes/n1/status', 'nuvem'), undefined);
  assert.is(parseTopic('nuvem/acks/n1', 'nuvem'), undefined);
});

test('a status makes a node; silence for 3 heartbeats makes it offline; a Last Will at once', () => {
  const view = new ClusterView();
  assert.is(view.onMessage('nuvem/nodes/n1/status', status('n1'), { now: T0 }), 'status');
  const [n1] = view.list();
  assert.is(stateOf(n1, T0 + 2900), 'online');
  assert.is(stateOf(n1, T0 + 3000), 'offline', 'three heartbeats without one');
  view.onMessage('nuvem/nodes/n1/status', status('n1', { state: 'draining', ts: T0 + 3100 }), { now: T0 + 3100 });
  assert.is(stateOf(n1, T0 + 3100), 'draining');
  view.onMessage('nuvem/nodes/n1/status', status('n1', { state: 'offline', ts: T0 + 3200 }), { now: T0 + 3200 });
  assert.is(stateOf(n1, T0 + 3200), 'offline');
  // A status claiming a huge interval is believed for 30 s at most.
  view.onMessage('nuvem/nodes/n2/status', status('n2', { heartbeatMs: 3_600_000 }), { now: T0 });
  assert.is(stateOf(view.nodes.get('n2')!, T0 + 30_000), 'offline');
});

test('a retained status is as old as its timestamp; a live one is new', () => {
  const view = new ClusterView();
  view.onMessage('nuvem/nodes/n1/status', status('n1', { ts: T0 - 10_000 }), { now: T0, retained: true });
  assert.is(view.nodes.get('n1')!.heardAt, T0 - 10_000);
  assert.is(stateOf(view.nodes.get('n1')!, T0), 'offline', 'a retained "online" from 10 s ago is not believed');
  view.onMessage('nuvem/nodes/n1/status', status('n1', { ts: T0 - 10_000 }), { now: T0 });
  assert.is(view.nodes.get('n1')!.heardAt, T0);
});

test('malformed and mismatched messages are ignored', () => {
  const view = new ClusterView();
  for (const [topic, payload] of [
    ['nuvem/nodes/n1/status', 'not json'],
    ['nuvem/nodes/n1/status', '[1]'],
    ['nuvem/nodes/n1/status', status('n2')],
    ['nuvem/nodes/N1/status', status('N1')],
    ['nuvem/nodes/n1/status', status('n1', { state: 'asleep' })],
    ['nuvem/files/a', JSON.stringify({ path: 'a', op: 'explode', version: 'v', origin: 'n1', seq: 1 })],
    ['nuvem/files/a', JSON.stringify({ path: 'a', op: 'put', version: 'v', origin: 'n1' })],
    ['nuvem/events/n1', JSON.stringify({ path: 'a' })],
  ]) assert.is(view.onMessage(topic, payload, { now: T0 }), undefined, `${topic} ${payload}`);
  assert.is(view.nodes.size, 0);
  assert.is(view.feed.length, 0);
});

test('sparkline rates come from consecutive heartbeats\' counters; a restart starts over', () => {
  const view = new ClusterView();
  const beat = (s: number, requests: number, bytes: number, cpu: number) =>
    view.onMessage('nuvem/nodes/n1/status', status('n1', { ts: T0 + s * 1000, requests, traffic: { in: bytes, out: 0 }, cpu }), { now: T0 + s * 1000 });
  beat(0, 100, 0, 0.1);
  beat(1, 110, 2048, 0.2);
  view.onMessage('nuvem/nodes/n1/status', status('n1', { ts: T0 + 1100, requests: 111 }), { now: T0 + 1100 }); // a prompt status: skipped
  beat(2, 130, 4096, 0.3);
  beat(3, 5, 0, 0.4); // restarted: counters start again
  beat(4, 9, 100, 0.5);
  const s = seriesOf(view.nodes.get('n1')!, T0 + 4000);
  assert.equal(s.ops.map((p) => p.v), [10, 20, 4]);
  assert.equal(s.bytes.map((p) => p.v), [2048, 2048, 100]);
  assert.equal(s.cpu.map((p) => p.v), [0.1, 0.2, 0.3, 0.4, 0.5]);
  const later = seriesOf(view.nodes.get('n1')!, T0 + WINDOW_MS + 2500);
  assert.equal(later.cpu.map((p) => p.v), [0.4, 0.5], 'only the last 5 minutes');
});

test('sparkline points fit the box; the span grows with the page from 1 to 5 minutes', () => {
  assert.is(spanOf(T0, T0 + 1000), 60_000);
  assert.is(spanOf(T0, T0 + 120_000), 120_000);
  assert.is(spanOf(T0, T0 + 3_600_000), WINDOW_MS);
  const now = T0 + 60_000;
  const points = sparkPoints([{ at: now - 60_000, v: 0 }, { at: now - 30_000, v: 5 }, { at: now, v: 10 }], now, { span: 60_000 });
  assert.is(points, '0.0,23.0 50.0,12.0 100.0,1.0');
  assert.is(sparkPoints([{ at: now, v: 0.5 }], now, { max: 1, span: 60_000 }), '100.0,12.0');
  assert.is(sparkPoints([{ at: now - 61_000, v: 1 }], now, { span: 60_000 }), '', 'older points are left out');
});

test('the feed: changes and events, newest first; moves; at most 200', () => {
  const view = new ClusterView();
  const change = (fields: Record<string, unknown>) => JSON.stringify({ type: 'file', size: 5, origin: 'n1', deleted: false, ...fields });
  view.onMessage('nuvem/files/a.txt', change({ path: 'a.txt', op: 'put', version: '01-0000-n1', seq: 1 }), { now: T0 });
  view.onMessage('nuvem/files/b.txt', change({ path: 'b.txt', from: 'a.txt', op: 'move', version: '02-0000-n1', seq: 2 }), { now: T0 + 1 });
  view.onMessage('nuvem/events/n2', JSON.stringify({ type: 'conflict', node: 'n2', path: 'b.txt', winner: 'w', loser: 'l' }), { now: T0 + 2 });
  assert.equal(view.feed.map((e) => (e.kind === 'change' ? e.op : e.type)), ['conflict', 'move', 'put']);
  assert.equal(view.feed[1], { kind: 'change', at: T0 + 1, op: 'move', path: 'b.txt', from: 'a.txt', size: 5, origin: 'n1', folder: false });
  assert.equal(view.records.get('a.txt'), { version: '02-0000-n1', origin: 'n1', seq: 2, deleted: true }, 'a move leaves its source deleted');
  assert.equal(view.records.get('b.txt'), { version: '02-0000-n1', origin: 'n1', seq: 2, deleted: false });
  // An older notice arriving late does not replace what is known.
  view.onMessage('nuvem/files/b.txt', change({ path: 'b.txt', op: 'put', version: '01-0000-n1', seq: 1 }), { now: T0 + 3 });
  assert.is(view.records.get('b.txt')!.version, '02-0000-n1');
  for (let i = 0; i < 300; i++) view.onMessage('nuvem/files/x', change({ path: 'x', op: 'put', version: `03-${i}`, seq: 3 + i }), { now: T0 + 10 + i });
  assert.is(view.feed.length, 200);
});

test('the path box: freshness rule, and the newer of what the feed and the node say', () => {
  const view = new ClusterView();
  view.onMessage('nuvem/nodes/n1/status', status('n1', { seq: 7 }), { now: T0 });
  view.onMessage('nuvem/nodes/n2/status', status('n2', { applied: { n1: 7 } }), { now: T0 });
  view.onMessage('nuvem/nodes/n3/status', status('n3', { applied: { n1: 6 } }), { now: T0 });
  view.onMessage('nuvem/nodes/n4/status', status('n4', { state: 'offline', applied: { n1: 9 } }), { now: T0 });
  const record = { version: '0192-0000-n1', origin: 'n1', seq: 7, deleted: false };
  assert.equal(holdersOf(record, view.list(), T0), [
    { id: 'n1', holds: true, state: 'online' },
    { id: 'n2', holds: true, state: 'online' },
    { id: 'n3', holds: false, state: 'online' },
    { id: 'n4', holds: true, state: 'offline' },
  ]);
  const older = { ...record, version: '0191-0000-n2' };
  assert.is(newerOf(older, record), record);
  assert.is(newerOf(record, older), record);
  assert.is(newerOf(undefined, record), record);
  assert.is(newerOf(record, undefined), record);
});

test('paths as typed, file URLs, sizes, and the broker URL a browser uses', () => {
  assert.is(cleanPath('  /docs/Cafe\u0301.txt '), 'docs/Café.txt');
  assert.is(fileUrl('a b/c#d?.txt'), 'files/a%20b/c%23d%3F.txt');
  assert.is(formatBytes(1536), '1.5 KiB');
  assert.is(formatBytes(undefined), '–');
  assert.is(brokerUrlFor('ws://127.0.0.1:8083/mqtt', '127.0.0.1'), 'ws://127.0.0.1:8083/mqtt');
  assert.is(brokerUrlFor('ws://127.0.0.1:8083/mqtt', 'localhost'), 'ws://127.0.0.1:8083/mqtt');
  assert.is(brokerUrlFor('ws://127.0.0.1:8083/mqtt', 'files.example'), 'ws://files.example:8083/mqtt', 'a page opened elsewhere reaches the broker by the same name');
  assert.is(brokerUrlFor('wss://broker.example/mqtt', 'files.example'), 'wss://broker.example/mqtt');
  assert.is(brokerUrlFor('not a url', 'x'), undefined);
});

test.run();
