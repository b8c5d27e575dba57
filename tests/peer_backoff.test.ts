/**
 * Whom to ask, and when (issue 16, item 7), as plain functions: the backoff
 * of peers that keep failing (nodes/peer_backoff.ts) and hedged asking
 * (nodes/hedged.ts), with time passed in.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { askHedged, type HedgeOutcome, type HedgeTimers } from '../nodes/hedged.ts';
import { PeerBackoff } from '../nodes/peer_backoff.ts';

const backoff = suite('peer backoff');

backoff('a failing peer cools 2 s, 4 s, 8 s … at most 5 min, and is ordered last while it cools; an answer clears it', () => {
  let now = 0;
  const b = new PeerBackoff({ now: () => now });
  const peers = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
  assert.equal(b.order(peers).map((p) => p.id), ['a', 'b', 'c']);
  b.failed('a');
  assert.ok(b.cooling('a'));
  assert.equal(b.order(peers).map((p) => p.id), ['b', 'c', 'a']);
  now = 1999;
  assert.ok(b.cooling('a'));
  now = 2000;
  assert.not.ok(b.cooling('a'));
  b.failed('a');
  now += 3999;
  assert.ok(b.cooling('a'), 'second failure: 4 s');
  for (let i = 0; i < 40; i++) b.failed('a');
  assert.is(b.failures('a'), 42);
  now += 300_000;
  assert.not.ok(b.cooling('a'), 'never more than 5 min');
  b.failed('c');
  b.failed('a');
  assert.equal(b.order(peers).map((p) => p.id), ['b', 'a', 'c'], 'both cooling: last, in their order');
  b.succeeded('a');
  b.clear('c');
  assert.is(b.failures('a'), 0);
  assert.equal(b.order(peers).map((p) => p.id), ['a', 'b', 'c']);
});

backoff.run();

// ---

/** Timers run by hand: `tick(ms)` fires what is due. */
function manualTimers(): HedgeTimers & { tick(ms: number): void; pending(): number } {
  let now = 0;
  let next = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn, ms) {
      due.set(++next, { at: now + ms, fn });
      return next;
    },
    clearTimeout(t) {
      due.delete(t as number);
    },
    tick(ms) {
      now += ms;
      for (const [id, t] of [...due].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at > now) continue;
        due.delete(id);
        t.fn();
      }
    },
    pending: () => due.size,
  };
}

/** A request that ends when the test says so. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

const hedged = suite('hedged asking');

hedged('a silent first peer costs the hedge delay: the second is asked then, its answer wins, the first is aborted', async () => {
  const timers = manualTimers();
  const asked: string[] = [];
  const aborted: string[] = [];
  const outcomes: [string, HedgeOutcome][] = [];
  const requests = new Map<string, ReturnType<typeof deferred<number>>>();
  const result = askHedged(['silent', 'good', 'third'], {
    ask: (peer, signal) => {
      asked.push(peer);
      const d = deferred<number>();
      requests.set(peer, d);
      signal.addEventListener('abort', () => {
        aborted.push(peer);
        d.reject(signal.reason);
      });
      return d.promise;
    },
    useful: (n) => n > 0,
    hedgeMs: 1000,
    timers,
    onOutcome: (peer, outcome) => outcomes.push([peer, outcome]),
  });
  await flush();
  assert.equal(asked, ['silent']);
  timers.tick(999);
  await flush();
  assert.equal(asked, ['silent'], 'not before the hedge delay');
  timers.tick(1);
  await flush();
  assert.equal(asked, ['silent', 'good']);
  requests.get('good')!.resolve(5);
  const { winner } = await result;
  assert.equal(winner, { peer: 'good', value: 5 });
  await flush();
  assert.equal(aborted, ['silent']);
  assert.equal(asked, ['silent', 'good'], 'the third is never asked');
  assert.equal(outcomes, [['good', 'answered'], ['silent', 'overtaken']]);
  assert.is(timers.pending(), 0);
});

hedged('an answer with nothing useful or a failure asks the next at once; without a winner every answer comes back', async () => {
  const timers = manualTimers();
  const asked: string[] = [];
  const result = askHedged(['empty', 'broken', 'last'], {
    ask: async (peer) => {
      asked.push(peer);
      if (peer === 'broken') throw new Error('connection refused');
      return 0;
    },
    useful: (n) => n > 0,
    hedgeMs: 60_000,
    timers,
  });
  const { winner, answers } = await result;
  assert.is(winner, undefined);
  assert.equal(asked, ['empty', 'broken', 'last']);
  assert.equal(answers, [{ peer: 'empty', value: 0 }, { peer: 'last', value: 0 }]);
  assert.is(timers.pending(), 0);
});

hedged('peers are read again when a next one is wanted: one that joined while the first is silent is asked at the next hedge, once', async () => {
  const timers = manualTimers();
  const asked: string[] = [];
  let members = [{ id: 'silent' }];
  const result = askHedged(() => members.map((m) => ({ ...m })), {
    ask: (peer, signal) => {
      asked.push(peer.id);
      return peer.id === 'silent'
        ? new Promise<number>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
        : new Promise<number>(() => {}); // answers nothing yet
    },
    useful: (n) => n > 0,
    key: (peer) => peer.id,
    hedgeMs: 1000,
    timers,
  });
  await flush();
  timers.tick(1000);
  await flush();
  assert.equal(asked, ['silent'], 'nobody else yet, and the silent one not twice');
  members = [{ id: 'silent' }, { id: 'late' }];
  timers.tick(1000);
  await flush();
  timers.tick(1000);
  await flush();
  assert.equal(asked, ['silent', 'late']);
  void result;
});

hedged('no peers: no winner, at once', async () => {
  assert.equal(await askHedged([], { ask: async () => 1, useful: () => true, hedgeMs: 10 }), { winner: undefined, answers: [] });
});

hedged.run();
