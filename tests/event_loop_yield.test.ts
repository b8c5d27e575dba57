/**
 * Anti-entropy digests read the index a page at a time and yield to the
 * event loop between pages (nodes/digest.ts), so a node with 100,000
 * records still answers other requests while peers ask for its digest and
 * its buckets: a /health sent meanwhile comes back within a second (a bound
 * against a stall, not a benchmark; reading every record for each of eight
 * buckets in one go held the node for several seconds).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileRecord } from '../protocol/record.ts';
import { realNode } from './_support/real_node.ts';

const N = 100_000;

test('a 100,000-record digest and eight of its buckets asked at once do not hold /health for a second', async () => {
  const { node, close } = await realNode();
  try {
    // Records only (a digest reads the index, not the files), written straight into the index.
    for (let i = 0; i < N; i += 10_000) {
      const put: { record: FileRecord }[] = [];
      for (let j = i; j < i + 10_000; j++) {
        put.push({ record: {
          path: `many/f${j}`, type: 'file', version: `000000000001-0000-x${j}`, size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
          modified: 1, contentType: 'text/plain', deleted: false, origin: 'x', seq: j + 1,
        } });
      }
      node.store.index.commit([{ put }]);
    }
    let done = false;
    let worst = 0;
    let probes = 0;
    const prober = (async () => {
      while (!done) {
        const sent = performance.now();
        assert.is((await fetch(`${node.url}/health`)).status, 200);
        worst = Math.max(worst, performance.now() - sent);
        probes++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const digest = fetch(`${node.url}/internal/digest`).then((r) => r.json());
    const buckets = Array.from({ length: 8 }, (_, b) => fetch(`${node.url}/internal/digest/${b}`).then((r) => r.json()));
    const [d, ...bs] = await Promise.all([digest, ...buckets]);
    done = true;
    await prober;
    assert.is(Object.keys(d.buckets).length, 64);
    assert.ok(bs.every((b) => b.records.length > N / 64 / 2), 'every bucket answered with its records');
    assert.ok(probes >= 2, 'probes ran during the work');
    assert.ok(worst < 1000, `/health took ${Math.round(worst)} ms while digests were computed`);
  } finally {
    await close();
  }
});

test.run();
