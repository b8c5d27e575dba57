// functions/json_stream.ts: the streamed JSON is exactly what JSON.stringify gives, with the array last.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jsonWithArray } from '../functions/json_stream.ts';

test('the same JSON as JSON.stringify, whatever the slices', async () => {
  const cases: [Record<string, unknown>, unknown[], number][] = [
    [{}, [], 1000],
    [{ path: 'a', replicas: ['n1'] }, [], 2],
    [{ path: 'a"b\u2028' }, [1, 'two', { three: [3] }, null], 1],
    [{ type: 'folder' }, Array.from({ length: 2501 }, (_, i) => ({ path: `f${i}`, size: i })), 1000],
  ];
  for (const [head, items, slice] of cases) {
    const text = await new Response(jsonWithArray(head, { key: 'entries', items, slice })).text();
    assert.is(text, JSON.stringify({ ...head, entries: items }));
  }
});

test.run();
