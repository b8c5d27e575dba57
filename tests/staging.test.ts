// Staged content (nodes/staging.ts): what a peer pushes while its upload
// streams in is kept under the SHA-256 computed here, handed over once to the
// change that names it, and otherwise refused, failed or expired without
// leaving a file behind.
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NuvemError } from '../protocol/errors.ts';
import { Staging, withIdleTimeout } from '../nodes/staging.ts';
import { randomBytesFrom, sha256 } from './_support/bytes.ts';
import { tempDir } from './_support/temp.ts';
import { sleep, until } from './_support/sleep.ts';

/** The error `p` rejects with; fails the test when it resolves. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err, 'expected a rejection');
  return err;
}

async function* chunks(bytes: Uint8Array, size = 65536, delayMs = 0): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    if (delayMs) await sleep(delayMs);
    yield bytes.subarray(at, at + size);
  }
}

async function* stalls(first: Uint8Array): AsyncIterable<Uint8Array> {
  yield first;
  await new Promise(() => {}); // never sends another byte
}

function setup(options: Partial<ConstructorParameters<typeof Staging>[0]> = {}) {
  const dir = tempDir('staging');
  const outcomes: string[] = [];
  const staging = new Staging({ tmpDir: dir.path, onOutcome: (o) => outcomes.push(o), ...options });
  return { dir, staging, outcomes, files: () => readdirSync(dir.path) };
}

test('staged content is handed over once, to a change with its SHA-256 and size', async () => {
  const { dir, staging, outcomes, files } = setup();
  try {
    const body = randomBytesFrom(1, 300_000);
    const got = await staging.receive('node-1', body.length, chunks(body));
    assert.equal(got, { sha256: sha256(body), size: body.length });
    assert.is(staging.bytes, body.length);
    assert.is(await staging.take('node-1', sha256(body), body.length - 1), undefined, 'wrong size');
    assert.is(await staging.take('node-1', sha256(randomBytesFrom(2, 10)), body.length), undefined, 'other content');
    const path = await staging.take('node-1', sha256(body), body.length);
    assert.ok(path, 'staged file handed over');
    assert.is(sha256(readFileSync(path)), sha256(body));
    assert.is(await staging.take('node-1', sha256(body), body.length), undefined, 'only once');
    assert.is(staging.bytes, 0);
    assert.equal(outcomes, ['used']);
    assert.equal(files().length, 1, 'the taker owns the file now');
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('a change waits for a staging of its size from its origin that is still arriving', async () => {
  const { dir, staging } = setup();
  try {
    const body = randomBytesFrom(3, 640 * 1024);
    const receiving = staging.receive('node-1', body.length, chunks(body, 65536, 10));
    await sleep(20);
    const started = Date.now();
    const path = await staging.take('node-1', sha256(body), body.length);
    assert.ok(path, 'the change got the staged file once it was complete');
    assert.ok(Date.now() - started >= 40, 'it waited for the rest of the body');
    await receiving;
    // A change from another origin does not wait for it.
    const other = randomBytesFrom(4, 640 * 1024);
    const slow = staging.receive('node-1', other.length, chunks(other, 65536, 50));
    const t0 = Date.now();
    assert.is(await staging.take('node-2', sha256(other), other.length), undefined);
    assert.ok(Date.now() - t0 < 200, 'no wait for an unrelated staging');
    await slow;
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('a body shorter or longer than announced is refused and leaves no file', async () => {
  const { dir, staging, outcomes, files } = setup();
  try {
    const body = randomBytesFrom(5, 100_000);
    await rejection(staging.receive('node-1', body.length + 1, chunks(body)));
    await rejection(staging.receive('node-1', body.length - 1, chunks(body)));
    assert.equal(files(), []);
    assert.is(staging.bytes, 0);
    assert.equal(outcomes, ['failed', 'failed']);
    assert.is(await staging.take('node-1', sha256(body), body.length), undefined);
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('more than maxBytes at once is refused before any byte is written', async () => {
  const { dir, staging, outcomes, files } = setup({ maxBytes: 1000 });
  try {
    const body = randomBytesFrom(6, 1001);
    const err = await staging.receive('node-1', body.length, chunks(body)).catch((e) => e);
    assert.instance(err, NuvemError);
    assert.is(err.code, 'unavailable');
    assert.equal(files(), []);
    assert.equal(outcomes, ['refused']);
    assert.equal(await staging.receive('node-1', 1000, chunks(body.subarray(0, 1000))), { sha256: sha256(body.subarray(0, 1000)), size: 1000 });
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('unclaimed content expires and its file is removed', async () => {
  const { dir, staging, outcomes, files } = setup({ ttlMs: 50 });
  try {
    const body = randomBytesFrom(7, 70_000); // over 64 KiB: staged in a file (smaller content stays in memory)
    await staging.receive('node-1', body.length, chunks(body));
    assert.is(files().length, 1);
    await sleep(150);
    assert.equal(files(), []);
    assert.equal(outcomes, ['expired']);
    assert.is(staging.bytes, 0);
    assert.is(await staging.take('node-1', sha256(body), body.length), undefined);
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('a push that stops sending is abandoned after idleMs, and a change waiting for it goes on', async () => {
  const { dir, staging, outcomes, files } = setup({ idleMs: 100 });
  try {
    const receiving = staging.receive('node-1', 10_000, stalls(new Uint8Array(100)));
    receiving.catch(() => {});
    const taken = staging.take('node-1', sha256('whatever'), 10_000);
    const err = await receiving.catch((e) => e);
    assert.instance(err, NuvemError);
    assert.match(err.message, /No bytes for 100 ms/);
    assert.is(await taken, undefined);
    assert.equal(files(), []);
    assert.equal(outcomes, ['failed']);
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('the idle limit is per wait: a slow but steady push, and a slow consumer, are not abandoned', async () => {
  async function* trickle(): AsyncIterable<Uint8Array> {
    for (let i = 0; i < 6; i++) {
      await sleep(40);
      yield new Uint8Array([i]);
    }
  }
  // 40 ms between chunks against a 500 ms limit: a busy machine delays timers by tens of
  // milliseconds, never by hundreds, so only a limit counted over the whole push could trip.
  const got: number[] = [];
  for await (const c of withIdleTimeout(trickle(), 500)) got.push(c[0]); // 240 ms in all, never 500 ms between chunks
  assert.equal(got, [0, 1, 2, 3, 4, 5]);
  const slow: number[] = [];
  for await (const c of withIdleTimeout(chunks(new Uint8Array([7, 8]), 1), 50)) {
    await sleep(120); // the consumer's time is not the source's
    slow.push(c[0]);
  }
  assert.equal(slow, [7, 8]);
  const err = await (async () => {
    for await (const _ of withIdleTimeout(trickleThenStall(), 500)) { /* drain */ }
  })().catch((e) => e);
  assert.instance(err, NuvemError);
  assert.match(err.message, /No bytes for 500 ms/);
  async function* trickleThenStall(): AsyncIterable<Uint8Array> {
    yield* trickle();
    yield* stalls(new Uint8Array(1));
  }
});

test('small content (64 KiB at most) is staged in memory: no file, no flush; taken as bytes or as a file', async () => {
  const { dir, staging, outcomes, files } = setup();
  try {
    const a = randomBytesFrom(8, 5000);
    const b = randomBytesFrom(9, 64 * 1024);
    await staging.receive('node-1', a.length, chunks(a));
    await staging.receive('node-1', b.length, chunks(b));
    assert.equal(files(), [], 'nothing on disk');
    assert.is(staging.bytes, a.length + b.length);
    assert.equal(Buffer.from((await staging.takeSmall('node-1', sha256(a), a.length))!), a);
    const path = await staging.take('node-1', sha256(b), b.length);
    assert.equal(readFileSync(path!), b, 'written out for a caller that wants a file');
    assert.equal(outcomes, ['used', 'used']);
    assert.is(staging.bytes, 0);
  } finally {
    staging.close();
    dir.cleanup();
  }
});

test('close removes staged files', async () => {
  const { dir, staging, files } = setup();
  try {
    await staging.receive('node-1', 70_000, chunks(new Uint8Array(70_000)));
    assert.is(files().length, 1);
    staging.close();
    await until('staged files removed', () => files().length === 0, 5000); // removed in the background
    assert.equal(files(), []);
    await rejection(staging.receive('node-1', 10, chunks(new Uint8Array(10))));
  } finally {
    dir.cleanup();
  }
});

test.run();
