/**
 * /status, /health, /metrics, and unknown routes and methods.
 * Through `app.request()` (no socket) on a node wired as `startNode` wires it
 * (DESIGN.md section 3).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { put, errorOf, current } from './_support/http_api.ts';
import { inProcessNode, type InProcessNode } from './_support/in_process.ts';

const misc = suite('status, health, metrics, unknown routes and methods');
let ms: InProcessNode;
misc.before(async () => {
  ms = await inProcessNode();
});
misc.after(() => ms.close());

misc('/status has the heartbeat fields', async () => {
  await put(ms, 's.txt', '12345');
  const res = await ms.request('/status');
  assert.is(res.status, 200);
  const s = await res.json();
  assert.is(s.id, ms.id);
  assert.is(s.state, 'online');
  for (const f of ['url', 'ts', 'startedAt', 'heartbeatMs', 'seq', 'applied', 'lag', 'files', 'bytes', 'disk', 'inflight', 'version']) {
    assert.ok(f in s, `status has ${f}`);
  }
  assert.type(s.ts, 'number');
  assert.ok(s.seq >= 1);
  assert.is(s.applied[ms.id], s.seq);
  assert.type(s.disk.free, 'number');
  assert.type(s.disk.total, 'number');
});

misc('/health is 200; /metrics is Prometheus text with nuvem_http_requests_total', async () => {
  const health = await ms.request('/health');
  assert.is(health.status, 200);
  assert.is((await health.json()).status, 'ok');
  await ms.request('/files/s.txt');
  const metrics = await ms.request('/metrics');
  assert.is(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await metrics.text();
  assert.match(text, /# TYPE nuvem_http_requests_total counter/);
  assert.match(text, /^nuvem_http_requests_total\{method="GET",code="200",route="\/files\/\{path\}"\} \d+$/m);
  assert.match(text, /^nuvem_http_requests_total\{method="PUT",code="201",route="\/files\/\{path\}"\} \d+$/m);
  assert.match(text, /^nuvem_http_requests_total\{method="GET",code="200",route="\/health"\} \d+$/m);
});

misc('/health is 503 JSON with Retry-After once the node is stopping', async () => {
  const stopping = await inProcessNode();
  await stopping.close();
  const res = await stopping.app.request('/health');
  assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
  const body = await errorOf(res, 503, 'unavailable');
  assert.is(body.status, 'unavailable');
});

misc('an unknown method on /files is 405 JSON with Allow', async () => {
  for (const method of ['PATCH', 'PROPFIND', 'POST']) {
    const res = await ms.request('/files/s.txt', { method });
    const allow = res.headers.get('allow') ?? '';
    for (const m of ['GET', 'PUT', 'DELETE', 'MOVE', 'MKCOL']) assert.ok(allow.includes(m), `${method}: Allow "${allow}" has ${m}`);
    await errorOf(res, 405, 'method_not_allowed');
  }
  assert.equal((await current(ms, 's.txt')).body, Buffer.from('12345'));
});

misc('an unknown route is 404 JSON', async () => {
  await errorOf(await ms.request('/nope'), 404, 'not_found');
  await errorOf(await ms.request('/files-and-more/x'), 404, 'not_found');
});

misc.run();
