/**
 * Catch-up reads a peer's log a page ahead (catch_up.ts LogReader): once a
 * page of many changes arrives, the next is asked for while this node
 * applies the first; the next read takes it without asking again, and a
 * read for another position asks afresh.
 */
import { createServer } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogReader } from '../nodes/catch_up.ts';
import { PeerGets } from '../nodes/peers.ts';
import { until } from './_support/sleep.ts';

const PAGE = 200;

function change(seq: number) {
  return {
    path: `d/f${seq}`, type: 'file', version: `${(0x01a24d240000 + seq).toString(16).padStart(12, '0')}-0000-node-1`, size: 3,
    sha256: 'a'.repeat(64), modified: 1_700_000_000_000, contentType: 'text/plain', deleted: false, origin: 'node-1', seq, op: 'put',
  };
}

test('the next page is asked for as soon as a page of many changes arrives, and taken by the next read', async () => {
  const asked: number[] = [];
  const server = createServer((req, res) => {
    const after = Number(new URL(req.url!, 'http://x').searchParams.get('after'));
    asked.push(after);
    const changes = Array.from({ length: Math.max(0, Math.min(PAGE, 1000 - after)) }, (_, i) => change(after + 1 + i));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ changes, bytes: {}, applied: { 'node-1': 1000 } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const gets = new PeerGets({ isMemberUrl: () => true });
  const peer = { id: 'node-1', url, receivedAt: 0, verified: true };
  const reader = new LogReader(gets);
  const read = (after: number) => reader.read({ peer, origin: 'node-1', after, onInvalid: () => assert.unreachable('no invalid entry') });
  try {
    const first = await read(0);
    assert.equal([first!.run[0].seq, first!.run.at(-1)!.seq], [1, PAGE]);
    await until('the next page asked for, before any read of it', () => asked.includes(PAGE), 5000);
    const second = await read(PAGE);
    assert.equal([second!.run[0].seq, second!.run.at(-1)!.seq], [PAGE + 1, 2 * PAGE]);
    assert.is(asked.filter((a) => a === PAGE).length, 1, 'the page ahead was taken, not asked again');
    await until('the page after it asked for too', () => asked.includes(2 * PAGE), 5000);
    const elsewhere = await read(250); // applied stopped short of the page's end
    assert.is(elsewhere!.run[0].seq, 251);
    assert.ok(asked.includes(250), 'a read for another position asks afresh');
  } finally {
    gets.close();
    server.close();
  }
});

test.run();
