/**
 * `/metrics` as Prometheus text, read by a strict parser
 * (tests/_support/prometheus.ts): the writer's escaping, a node in this
 * process whose counters move with the requests it answers, and two node
 * processes on a broker whose per-peer figures, anti-entropy runs, ignored
 * MQTT messages and resource gauges show up and move.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { startBroker } from '../broker/mod.ts';
import { routeOf } from '../functions/request_counters.ts';
import { Metrics } from '../protocol/metrics.ts';
import { inProcessNode } from './_support/in_process.ts';
import { startNodeProcess, type NodeProcess } from './_support/node_process.ts';
import { parsePrometheus, sampleValue, type Family } from './_support/prometheus.ts';
import { sleep } from './_support/sleep.ts';
import { tempDir } from './_support/temp.ts';

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

test('the writer escapes label values and HELP, spells infinities as Prometheus does, and the parser is strict', () => {
  const m = new Metrics();
  const hits = m.counter('nuvem_test_hits_total', 'Hits, by "path"\\kind\nsecond line');
  hits({ path: 'a "quoted"\\path\nwith a newline' }, 2);
  hits({ path: 'plain' });
  m.gauge('nuvem_test_level_ratio', 'A level', () => [{ labels: { k: 'inf' }, value: Infinity }, { labels: { k: 'nan' }, value: NaN }]);
  const families = parsePrometheus(m.render());
  const hitsFamily = families.get('nuvem_test_hits_total')!;
  assert.is(hitsFamily.help, 'Hits, by "path"\\kind\nsecond line');
  assert.is(hitsFamily.type, 'counter');
  assert.equal(hitsFamily.samples, [{ labels: { path: 'a "quoted"\\path\nwith a newline' }, value: 2 }, { labels: { path: 'plain' }, value: 1 }]);
  assert.is(sampleValue(families, 'nuvem_test_level_ratio', { k: 'inf' }), Infinity);
  assert.ok(Number.isNaN(sampleValue(families, 'nuvem_test_level_ratio', { k: 'nan' })));

  const refused: [string, RegExp][] = [
    ['nuvem_a_total 1\n', /before its HELP and TYPE/],
    ['# HELP nuvem_a_total A\n# TYPE nuvem_a_total counter\nnuvem_a_total one\n', /not a number/],
    ['# HELP nuvem_a_total A\n# TYPE nuvem_a_total counter\nnuvem_a_total{x="1} 1\n', /name="value"/],
    ['# HELP nuvem_a_total A\n# TYPE nuvem_a_total counter\nnuvem_a_total{1x="1"} 1\n', /not a label name/],
    ['# HELP nuvem_a_total A\n# TYPE nuvem_a_total counter\nnuvem_a_total 1\nnuvem_a_total 2\n', /same series twice/],
    ['# HELP nuvem_a_total A\n# TYPE nuvem_a_total counter\nnuvem_a_total -1\n', /below zero/],
    ['# HELP nuvem_a A\n# TYPE nuvem_a counter\nnuvem_a 1\n', /ends in _total/],
    ['# HELP nuvem_a_total A\n# TYPE nuvem_a_total gauge\nnuvem_a_total 1\n', /only counters/],
    ['# HELP nuvem_bytes_sent_total A\n# TYPE nuvem_bytes_sent_total counter\nnuvem_bytes_sent_total 1\n', /unit "bytes" comes last/],
    ['# HELP nuvem_a A\n# TYPE nuvem_a gauge\nnuvem_a 1', /end with a newline/],
    ['# HELP nuvem_a A\n# TYPE nuvem_a gauge\n\nnuvem_a 1\n', /empty line/],
    [
      '# HELP nuvem_a A\n# TYPE nuvem_a gauge\nnuvem_a{k="1"} 1\n# HELP nuvem_b B\n# TYPE nuvem_b gauge\nnuvem_b 1\nnuvem_a{k="2"} 1\n',
      /not together/,
    ],
  ];
  for (const [text, why] of refused) assert.throws(() => parsePrometheus(text), why, text);
});

test('route labels are templates, never raw paths', () => {
  const table: [string, string][] = [
    ['/files/docs/a.txt', '/files/{path}'],
    ['/files/', '/files/{folder}/'],
    ['/files/docs/', '/files/{folder}/'],
    ['/revisions/a.txt', '/revisions/{path}'],
    ['/', '/'],
    ['/status', '/status'],
    ['/metrics', '/metrics'],
    ['/dashboard/app.js', '/dashboard/{asset}'],
    ['/internal/content/abc', '/internal/content/{sha256}'],
    ['/internal/digest', '/internal/digest'],
    ['/internal/digest/7', '/internal/digest/{bucket}'],
    ['/internal/log', '/internal/log'],
    ['/wp-admin/setup.php', 'other'],
    ['/statusx', 'other'],
  ];
  for (const [path, route] of table) assert.is(routeOf(path), route, path);
});

test('a node\'s /metrics parses strictly, and its request and byte counters move with traffic', async () => {
  const node = await inProcessNode();
  try {
    const scrape = async () => parsePrometheus(await (await node.request('/metrics')).text());
    const before = await scrape();
    const body = 'x'.repeat(5000);
    for (let i = 0; i < 3; i++) assert.is((await node.request(`/files/m/${i}.txt`, { method: 'PUT', body })).status, 201);
    for (let i = 0; i < 2; i++) assert.is((await (await node.request('/files/m/0.txt')).text()).length, 5000);
    assert.is((await node.request('/files/m/absent.txt')).status, 404);
    assert.is((await node.request('/files/m/')).status, 200);
    const after = await scrape();
    const moved = (f: Map<string, Family>, name: string, labels = {}) => sampleValue(f, name, labels);
    const delta = (name: string, labels = {}) => moved(after, name, labels) - moved(before, name, labels);
    assert.is(delta('nuvem_http_requests_total', { route: '/files/{path}', method: 'PUT', code: '201' }), 3);
    assert.is(delta('nuvem_http_requests_total', { route: '/files/{path}', method: 'GET', code: '200' }), 2);
    assert.is(delta('nuvem_http_requests_total', { route: '/files/{path}', method: 'GET', code: '404' }), 1);
    assert.is(delta('nuvem_http_requests_total', { route: '/files/{folder}/', method: 'GET', code: '200' }), 1);
    assert.is(delta('nuvem_http_requests_total', { route: '/metrics' }), 1, 'the scrape before is counted');
    assert.is(delta('nuvem_received_bytes_total'), 15_000);
    assert.is(delta('nuvem_sent_bytes_total'), 10_000);
    assert.is(moved(after, 'nuvem_files'), 3);
    for (const name of [
      'nuvem_http_inflight_requests', 'nuvem_replication_lag', 'nuvem_bytes', 'nuvem_tombstones', 'nuvem_process_memory_bytes',
      'nuvem_cpu_busy_ratio', 'nuvem_load1', 'nuvem_system_memory_free_bytes', 'nuvem_system_memory_total_bytes',
      'nuvem_disk_free_bytes', 'nuvem_disk_total_bytes', 'nuvem_process_cpu_seconds_total', 'nuvem_process_start_time_seconds',
      'nuvem_anti_entropy_runs_total', 'nuvem_anti_entropy_peer_failures_total', 'nuvem_peer_heartbeat_age_seconds', 'nuvem_mqtt_ignored_total',
    ]) assert.ok(after.has(name), `${name} is exposed`);
    const cpu = moved(after, 'nuvem_cpu_busy_ratio');
    assert.ok(cpu >= 0 && cpu <= 1, `cpu ${cpu}`);
    assert.ok(moved(after, 'nuvem_system_memory_total_bytes') >= moved(after, 'nuvem_system_memory_free_bytes'));
    assert.ok(moved(after, 'nuvem_disk_total_bytes') > 0);
    assert.ok(moved(after, 'nuvem_process_cpu_seconds_total') > 0);
  } finally {
    await node.close();
  }
});

test('two nodes on a broker: per-peer figures, anti-entropy runs and ignored MQTT messages move; the fast paths count', async () => {
  const broker = await startBroker({ port: 0, wsPort: false });
  const dirs = [tempDir('metrics-a'), tempDir('metrics-b')];
  const nodes: NodeProcess[] = [];
  let client: mqtt.MqttClient | undefined;
  try {
    for (const [i, id] of ['m-a', 'm-b'].entries()) {
      nodes.push(await startNodeProcess({ dataDir: dirs[i].path, args: ['--id', id, '--broker', broker.mqttUrl, '--anti-entropy-ms', '500'] }));
    }
    const [a] = nodes;
    const scrape = async () => parsePrometheus(await (await fetch(`${a.url}/metrics`)).text());
    const first = await until('m-a sees m-b online, and runs anti-entropy with it', async () => {
      const f = await scrape();
      const ready = sampleValue(f, 'nuvem_peer_up', { peer: 'm-b' }) === 1 && sampleValue(f, 'nuvem_anti_entropy_runs_total') >= 1;
      return ready ? f : undefined;
    }, 20_000);
    const age = sampleValue(first, 'nuvem_peer_heartbeat_age_seconds', { peer: 'm-b' });
    assert.ok(age >= 0 && age < 3, `heartbeat age of m-b: ${age} s`);
    assert.ok(first.get('nuvem_peer_replication_lag')!.samples.some((s) => s.labels.peer === 'm-b'), 'lag per peer');

    // Over the socket, through the runtime's fast paths (a plain PUT and a small cached GET).
    const body = 'y'.repeat(3000);
    assert.is((await fetch(`${a.url}/files/fast.txt`, { method: 'PUT', body })).status, 201);
    assert.is((await (await fetch(`${a.url}/files/fast.txt`)).text()).length, 3000);

    // Garbage on the change topic is ignored, and counted.
    client = await mqtt.connectAsync(broker.mqttUrl, { reconnectPeriod: 0 });
    await client.publishAsync('nuvem/files/bad.txt', 'not json', { qos: 1 });

    const later = await until('counters moved', async () => {
      const f = await scrape();
      const moved = sampleValue(f, 'nuvem_anti_entropy_runs_total') > sampleValue(first, 'nuvem_anti_entropy_runs_total') &&
        sampleValue(f, 'nuvem_mqtt_ignored_total', { reason: 'change' }) >= 1;
      return moved ? f : undefined;
    }, 10_000);
    const delta = (name: string, labels = {}) => sampleValue(later, name, labels) - sampleValue(first, name, labels);
    assert.is(delta('nuvem_http_requests_total', { route: '/files/{path}', method: 'PUT', code: '201' }), 1);
    assert.is(delta('nuvem_http_requests_total', { route: '/files/{path}', method: 'GET', code: '200' }), 1);
    assert.is(delta('nuvem_received_bytes_total'), 3000);
    assert.is(delta('nuvem_sent_bytes_total'), 3000);
    assert.ok(delta('nuvem_process_cpu_seconds_total') > 0);
  } finally {
    await client?.endAsync(true);
    for (const n of nodes) await n.stop();
    await broker.close();
    for (const d of dirs) d.cleanup();
  }
});

test.run();
