/** Node choice (client/selection.ts): pure, so every case is a row of a table. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { holds, latencyStep, NoNodeAvailableError, selectNodes, type NodeView, type SelectionRequest } from '../client/selection.ts';

/** An online node with a fresh heartbeat, measured at 5 ms, idle, holding nothing. */
function node(id: string, over: Partial<NodeView> = {}): NodeView {
  return { id, url: `http://${id}:7001`, state: 'online', heartbeatAgeMs: 200, heartbeatMs: 1000, applied: {}, latencyMs: 5, inflight: 0, ...over };
}

interface Row {
  name: string;
  nodes: NodeView[];
  request?: SelectionRequest;
  /** Ids best first, or the error expected. */
  expect: string[] | RegExp;
  stale?: boolean;
}

const need7 = { origin: 'o', seq: 7 };

const rows: Row[] = [
  {
    name: 'a read skips a node that lacks the newest known version of the path',
    nodes: [node('a', { applied: { o: 6 } }), node('b', { applied: { o: 7 } })],
    request: { needs: [need7] },
    expect: ['b'],
  },
  {
    name: 'fresher but slower beats faster but stale',
    nodes: [node('fast', { latencyMs: 1, applied: { o: 3 } }), node('slow', { latencyMs: 80, applied: { o: 9 } })],
    request: { needs: [need7] },
    expect: ['slow'],
  },
  {
    name: 'the origin holds its own change; known holders (replicas, acks) count beyond `applied`',
    nodes: [node('o', { latencyMs: 9 }), node('b', { latencyMs: 7 }), node('c', { latencyMs: 1 })],
    request: { needs: [{ origin: 'o', seq: 7, holders: ['b'] }] },
    expect: ['b', 'o'],
  },
  {
    name: 'a heartbeat older than 3 × heartbeatMs is out',
    nodes: [node('silent', { heartbeatAgeMs: 3100, latencyMs: 1 }), node('alive', { heartbeatAgeMs: 900, latencyMs: 50 })],
    expect: ['alive'],
  },
  {
    name: 'just under 3 heartbeats is still in',
    nodes: [node('late', { heartbeatAgeMs: 2999, heartbeatMs: 1000 })],
    expect: ['late'],
  },
  {
    name: 'equal latency: the least loaded first',
    nodes: [node('busy', { inflight: 7 }), node('idle', { inflight: 1 }), node('mid', { inflight: 3 })],
    expect: ['idle', 'mid', 'busy'],
  },
  {
    name: 'latencies within ~20 % count as equal, so load decides',
    nodes: [node('a', { latencyMs: 1.0, inflight: 4 }), node('b', { latencyMs: 1.1, inflight: 0 })],
    expect: ['b', 'a'],
  },
  {
    name: 'clearly lower latency wins over load',
    nodes: [node('far', { latencyMs: 55, inflight: 0 }), node('near', { latencyMs: 2, inflight: 6 })],
    expect: ['near', 'far'],
  },
  {
    name: 'a node not measured yet (its probe not back) comes after the measured ones, even slow ones',
    nodes: [node('new', { latencyMs: undefined }), node('known', { latencyMs: 2 }), node('slow', { latencyMs: 300 })],
    expect: ['known', 'slow', 'new'],
  },
  {
    name: 'nothing measured yet: load, then the order given',
    nodes: [node('a', { latencyMs: undefined, inflight: 2 }), node('b', { latencyMs: undefined }), node('c', { latencyMs: undefined })],
    expect: ['b', 'c', 'a'],
  },
  {
    name: 'a write (no needs) goes to the lowest-latency online node',
    nodes: [node('a', { latencyMs: 12 }), node('b', { latencyMs: 3 }), node('c', { latencyMs: 1, state: 'draining' })],
    expect: ['b', 'a'],
  },
  {
    name: 'offline, draining and never-heard nodes are out',
    nodes: [node('off', { state: 'offline' }), node('drain', { state: 'draining' }), node('unknown', { state: 'unknown', heartbeatAgeMs: undefined }), node('ok')],
    expect: ['ok'],
  },
  {
    name: 'a node that failed lately goes last',
    nodes: [node('flaky', { latencyMs: 1, failedRecently: true }), node('steady', { latencyMs: 30 })],
    expect: ['steady', 'flaky'],
  },
  {
    name: 'nodes already tried are skipped',
    nodes: [node('a', { latencyMs: 1 }), node('b', { latencyMs: 2 })],
    request: { exclude: new Set(['a']) },
    expect: ['b'],
  },
  {
    name: 'no online node holds the version: the others come back as a last resort, flagged stale',
    nodes: [node('a', { applied: { o: 1 }, latencyMs: 9 }), node('b', { applied: { o: 2 }, latencyMs: 3 }), node('o', { state: 'offline' })],
    request: { needs: [need7] },
    expect: ['b', 'a'],
    stale: true,
  },
  {
    name: 'everything down: a clear error naming each node and why',
    nodes: [node('a', { state: 'offline' }), node('b', { heartbeatAgeMs: 9000 })],
    expect: /No Nuvem node can take the request \(a: offline; b: last heartbeat 9\.0 s ago \(limit 3\.0 s\)\)/,
  },
  {
    name: 'a node that answers without a status (wrong token, proxy) is tried only when nothing else is',
    nodes: [node('down', { state: 'offline' }), node('mute', { state: 'unknown', heartbeatAgeMs: undefined })],
    expect: ['mute'],
    stale: true,
  },
  {
    name: 'one listed node that cannot be reached: the error says so, with the reason',
    nodes: [node('http://h:1', { url: 'http://h:1', state: 'unknown', heartbeatAgeMs: undefined, unreachable: 'connect ECONNREFUSED' })],
    expect: /^Cannot reach http:\/\/h:1: connect ECONNREFUSED$/,
  },
  {
    name: 'no node known at all',
    nodes: [],
    expect: /No Nuvem node is known/,
  },
];

for (const row of rows) {
  test(row.name, () => {
    if (row.expect instanceof RegExp) {
      try {
        selectNodes(row.nodes, row.request);
      } catch (err) {
        assert.instance(err, NoNodeAvailableError);
        assert.match((err as Error).message, row.expect);
        assert.is((err as NoNodeAvailableError).excluded.length, row.nodes.length);
        return;
      }
      assert.unreachable('expected NoNodeAvailableError');
    }
    const selection = selectNodes(row.nodes, row.request);
    assert.equal(selection.nodes.map((n) => n.id), row.expect);
    assert.is(selection.stale, row.stale ?? false);
  });
}

// ---

test('excluded nodes carry their reason', () => {
  const { excluded } = selectNodes([node('a', { applied: { o: 1 } }), node('b', { state: 'offline' }), node('c', { applied: { o: 7 } })], { needs: [need7] });
  assert.equal(excluded.map((e) => `${e.id}: ${e.reason}`).sort(), ['a: lacks the newest known version', 'b: offline']);
});

test('a list of preferred nodes: the first eligible one goes first, one lacking the version is skipped', () => {
  const nodes = [node('a', { latencyMs: 1, applied: { o: 7 } }), node('own', { latencyMs: 40, applied: { o: 6 } }), node('o', { latencyMs: 40 })];
  // The own node lacks change o/7: the origin it names comes next, ahead of a closer node.
  assert.equal(selectNodes(nodes, { needs: [need7], prefer: ['own', 'o'] }).nodes.map((n) => n.id), ['o', 'a']);
  const caughtUp = nodes.map((n) => (n.id === 'own' ? { ...n, applied: { o: 7 } } : n));
  assert.equal(selectNodes(caughtUp, { needs: [need7], prefer: ['own', 'o'] }).nodes.map((n) => n.id), ['own', 'o', 'a']);
  assert.equal(selectNodes(nodes, { prefer: 'http://o:7001' }).nodes[0].id, 'o');
  assert.equal(selectNodes(nodes, { prefer: [] }).nodes[0].id, 'a');
});

test('freshness rule and latency steps', () => {
  assert.ok(holds({ id: 'o', applied: {} }, need7));
  assert.ok(holds({ id: 'x', applied: { o: 7 } }, need7));
  assert.not.ok(holds({ id: 'x', applied: { o: 6 } }, need7));
  assert.ok(holds({ id: 'x', applied: {} }, { ...need7, holders: ['x'] }));
  assert.ok(latencyStep(undefined) > latencyStep(60_000));
  assert.is(latencyStep(1.0), latencyStep(1.1));
  assert.ok(latencyStep(5) < latencyStep(55));
});

test.run();
