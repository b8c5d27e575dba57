/**
 * What a store tells others waits for durability: its own seq, its applied
 * vector, its log as served to peers, its /changes feed and its change
 * listeners (which publish MQTT notices) show a change only once the index
 * commit is fsynced. Told
 * earlier, a crash before that fsync would let the node give the same seq
 * to another change after restart while peers hold the first one under it.
 * The WAL fsync is held open here through the store's `syncWal` seam.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Change } from '../protocol/record.ts';
import { Store } from '../nodes/store.ts';
import { tempDir } from './_support/temp.ts';
import { sleep } from './_support/sleep.ts';

async function* bytes(text: string): AsyncIterable<Uint8Array> {
  yield new TextEncoder().encode(text);
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !cond(); i++) await sleep(2);
  assert.ok(cond(), what);
};

test('a put is told (seq, applied, peer log, /changes, listeners) only after its WAL fsync', async () => {
  const dir = tempDir('nuvem-durable-');
  const gates: (() => void)[] = [];
  const store = await Store.open({
    dataDir: dir.path,
    nodeId: 'n1',
    syncWal: () => new Promise<void>((resolve) => gates.push(resolve)),
  });
  try {
    const heard: Change[][] = [];
    store.onChange((changes) => heard.push(changes));
    const put = store.put('a.txt', bytes('hello'));
    await until(() => gates.length === 1, 'the WAL fsync was asked for');
    await sleep(20); // time for any early notice to go out
    assert.is(store.seq, 0, 'seq not told before the fsync');
    assert.is(store.applied().n1, 0, 'applied vector not told before the fsync');
    assert.equal(store.logFor('n1', 0, 10), [], 'the log served to peers stops at the durable seq');
    assert.equal(heard, [], 'listeners (change notices) not called before the fsync');
    assert.equal(store.changes(0, 10).changes, [], 'the /changes feed stops at the durable row');
    let woke = false;
    const waiting = store.waitForChange(0, 10_000).then(() => (woke = true));
    await sleep(20);
    assert.is(woke, false, 'a /changes long-poll is not woken before the fsync');
    assert.is(store.get('a.txt')?.size, 5, 'the commit itself is done: the node reads its own write');

    gates.shift()!();
    const { record } = await put;
    assert.is(record.seq, 1);
    assert.is(store.seq, 1);
    assert.is(store.applied().n1, 1);
    assert.equal(store.logFor('n1', 0, 10).map((c) => c.seq), [1]);
    await until(() => heard.length === 1, 'listeners heard of the change');
    await waiting;
    assert.equal(store.changes(0, 10).changes.map((c) => c.path), ['a.txt']);
    assert.equal(heard[0].map((c) => [c.op, c.path, c.seq]), [['put', 'a.txt', 1]]);
  } finally {
    for (const open of gates) open();
    store.close();
    dir.cleanup();
  }
});

test('an applied remote change advances the applied vector only after its fsync', async () => {
  const dir = tempDir('nuvem-durable-');
  const gates: (() => void)[] = [];
  let hold = false;
  const store = await Store.open({
    dataDir: dir.path,
    nodeId: 'n1',
    syncWal: () => (hold ? new Promise<void>((resolve) => gates.push(resolve)) : Promise.resolve()),
  });
  try {
    hold = true;
    const advanced = store.advanceApplied('n2', 7);
    await until(() => gates.length === 1, 'the WAL fsync was asked for');
    assert.is(store.applied().n2 ?? 0, 0, 'not told before the fsync');
    gates.shift()!();
    await advanced;
    assert.is(store.applied().n2, 7);
  } finally {
    for (const open of gates) open();
    store.close();
    dir.cleanup();
  }
});

test.run();
