// Group commit (nodes/group_commit.ts) with a controllable fsync: one
// transaction per event-loop turn, and everything submitted while an fsync
// runs goes into the next single transaction once it ends.
import { setImmediate as tick } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupCommit } from '../nodes/group_commit.ts';

function harness(options: { failCommit?: (batch: number[]) => boolean } = {}) {
  const commits: number[][] = [];
  const durable: number[][] = [];
  const syncs: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const group = new GroupCommit<number, string>({
    commit: (batch) => {
      if (options.failCommit?.(batch)) throw new Error('commit failed');
      commits.push(batch);
      return batch.map((m) => `r${m}`);
    },
    durable: () => new Promise<void>((resolve, reject) => syncs.push({ resolve, reject })),
    onDurable: (batch) => durable.push(batch),
  });
  return { group, commits, syncs, durable };
}

test('submissions of one turn share one transaction and one fsync; each gets its own result', async () => {
  const { group, commits, syncs } = harness();
  const results = Promise.all([1, 2, 3].map((m) => group.submit(m)));
  await tick();
  assert.equal(commits, [[1, 2, 3]]);
  assert.is(syncs.length, 1);
  syncs[0].resolve();
  assert.equal(await results, ['r1', 'r2', 'r3']);
});

test('submissions made while an fsync runs wait for it, then commit together', async () => {
  const { group, commits, syncs } = harness();
  const first = group.submit(1);
  await tick();
  const later = [2, 3, 4].map((m) => group.submit(m));
  await tick();
  await tick();
  assert.equal(commits, [[1]], 'nothing more is committed while the fsync runs');
  let done = false;
  void Promise.all(later).then(() => (done = true));
  syncs[0].resolve();
  assert.is(await first, 'r1');
  await tick();
  await tick();
  assert.equal(commits, [[1], [2, 3, 4]], 'one transaction for all that waited');
  assert.is(done, false, 'not answered before their own fsync');
  syncs[1].resolve();
  assert.equal(await Promise.all(later), ['r2', 'r3', 'r4']);
});

test('a failed commit or fsync rejects only its batch; later submissions go on', async () => {
  const { group, commits, syncs } = harness({ failCommit: (b) => b.includes(13) });
  const bad = group.submit(13).catch((e) => e);
  await tick();
  assert.match(String(await bad), /commit failed/);
  const a = group.submit(1).catch((e) => e);
  await tick();
  syncs[0].reject(new Error('fsync failed'));
  assert.match(String(await a), /fsync failed/);
  const b = group.submit(2);
  await tick();
  syncs[1].resolve();
  assert.is(await b, 'r2');
  assert.equal(commits, [[1], [2]]);
});

test('a mutation whose commit fails fails alone: the others of its transaction commit and are answered', async () => {
  const { group, commits, syncs, durable } = harness({ failCommit: (b) => b.includes(13) });
  const results = [1, 13, 2].map((m) => group.submit(m).catch((e) => e));
  await tick();
  assert.equal(commits, [[1], [2]], 'the batch failed, then each mutation was committed alone');
  assert.is(syncs.length, 1, 'one fsync for those that committed');
  syncs[0].resolve();
  const [a, bad, b] = await Promise.all(results);
  assert.is(a, 'r1');
  assert.match(String(bad), /commit failed/);
  assert.is(b, 'r2');
  assert.equal(durable, [[1, 2]]);
});

test('onDurable sees a batch only once its fsync is done, and never a batch whose fsync failed', async () => {
  const { group, syncs, durable } = harness();
  const a = group.submit(1);
  await tick();
  assert.equal(durable, [], 'committed, not yet durable: not told');
  syncs[0].resolve();
  await a;
  assert.equal(durable, [[1]]);
  const b = group.submit(2).catch((e) => e);
  await tick();
  await tick();
  syncs[1].reject(new Error('fsync failed'));
  await b;
  assert.equal(durable, [[1]]);
});

test.run();
