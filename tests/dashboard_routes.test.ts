/**
 * What a node serves for the dashboard, through `app.request()`: the page
 * (no inline script, a strict Content-Security-Policy, nothing fetched from
 * another site), its files and the MQTT.js browser build from the installed
 * `mqtt` package, revalidated by ETag, and `config.json` with the broker's
 * WebSocket URL from `--broker-ws` (or derived from `--broker`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dashboardApp } from '../functions/dashboard.ts';
import type { Deps } from '../functions/mod.ts';
import { brokerWsUrl, parseNodeArgs } from '../nodes/config.ts';
import { loadDashboardAssets } from '../nodes/dashboard_assets.ts';
import { UsageError } from '../protocol/errors.ts';
import { inProcessNode } from './_support/in_process.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';

test('GET / is the page: scripts from this node only, a strict CSP, nothing from another site', async () => {
  const node = await inProcessNode();
  try {
    const res = await node.request('/');
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    assert.is(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    assert.match(html, /<script type="module" src="dashboard\/app\.js"><\/script>/);
    assert.not.match(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    for (const name of ['index.html', 'style.css', 'app.js', 'model.js']) {
      const text = readFileSync(join(REPO_ROOT, 'functions', 'dashboard', name), 'utf8');
      const urls = [...text.matchAll(/https?:\/\/[^\s'"`)]+/g)].map((m) => m[0]).filter((u) => u !== 'http://www.w3.org/2000/svg');
      assert.equal(urls, [], `${name} names no other site (the SVG namespace is a name, not a request)`);
      assert.not.match(text, /\.innerHTML\s*=|insertAdjacentHTML|document\.write/, `${name} never writes HTML from strings`);
    }
  } finally {
    await node.close();
  }
});

test('the page\'s files and the MQTT.js browser build are served, and revalidated by ETag', async () => {
  const node = await inProcessNode();
  try {
    const mqtt = await node.request('/dashboard/mqtt.esm.js');
    assert.is(mqtt.status, 200);
    assert.match(mqtt.headers.get('content-type') ?? '', /^text\/javascript/);
    const bytes = new Uint8Array(await mqtt.arrayBuffer());
    assert.equal(bytes, new Uint8Array(readFileSync(join(REPO_ROOT, 'node_modules', 'mqtt', 'dist', 'mqtt.esm.js'))), 'the installed package\'s file');
    const etag = mqtt.headers.get('etag')!;
    assert.match(etag, /^"[\w-]{22}"$/);
    const again = await node.request('/dashboard/mqtt.esm.js', { headers: { 'if-none-match': etag } });
    assert.is(again.status, 304);
    for (const [name, type] of [['app.js', /^text\/javascript/], ['model.js', /^text\/javascript/], ['style.css', /^text\/css/]] as const) {
      const res = await node.request(`/dashboard/${name}`);
      assert.is(res.status, 200, name);
      assert.match(res.headers.get('content-type') ?? '', type);
      await res.arrayBuffer();
    }
    const missing = await node.request('/dashboard/nope.js');
    assert.is(missing.status, 404);
    assert.is((await missing.json()).error, 'not_found');
    const config = await (await node.request('/dashboard/config.json')).json();
    assert.equal(config, { node: node.id, brokerWs: 'ws://127.0.0.1:8083/mqtt', prefix: 'nuvem' });
  } finally {
    await node.close();
  }
});

test('without its files the node says so on GET / and serves the rest as usual', async () => {
  const empty = tempDir('no-dashboard');
  try {
    const assets = await loadDashboardAssets({ brokerWs: 'ws://127.0.0.1:8083/mqtt', from: [empty.path] });
    assert.equal(assets.missing.sort(), [
      'functions/dashboard/app.js', 'functions/dashboard/index.html', 'functions/dashboard/model.js', 'functions/dashboard/style.css',
      'node_modules/mqtt/dist/mqtt.esm.js',
    ]);
    const app = dashboardApp({ nodeId: 'n1', dashboard: assets } as unknown as Deps);
    const res = await app.request('/');
    assert.is(res.status, 503);
    assert.match(await res.text(), /dashboard's files were not found/);
  } finally {
    empty.cleanup();
  }
});

test('--broker-ws: given (ws or wss), from $NUVEM_BROKER_WS, or derived from --broker', () => {
  const ws = (argv: string[], env: Record<string, string> = {}) => parseNodeArgs(argv, env).brokerWs;
  assert.is(ws([]), 'ws://127.0.0.1:8083/mqtt');
  assert.is(ws(['--broker', 'mqtt://10.0.0.5:1884']), 'ws://10.0.0.5:8083/mqtt');
  assert.is(ws(['--broker', 'mqtts://broker.example:8883']), 'wss://broker.example:8083/mqtt');
  assert.is(ws(['--broker', 'mqtt://[::1]:1883']), 'ws://[::1]:8083/mqtt');
  assert.is(ws([], { NUVEM_BROKER: 'mqtt://h:1' }), 'ws://h:8083/mqtt');
  assert.is(ws(['--broker-ws', 'ws://127.0.0.1:9001/mqtt']), 'ws://127.0.0.1:9001/mqtt');
  assert.is(ws([], { NUVEM_BROKER_WS: 'wss://b.example/mqtt' }), 'wss://b.example/mqtt');
  for (const bad of ['http://x/mqtt', 'not a url', '']) {
    assert.throws(() => parseNodeArgs(['--broker-ws', bad], {}), (err: Error) => err instanceof UsageError && /--broker-ws/.test(err.message), bad);
  }
  assert.is(brokerWsUrl('garbage'), 'ws://127.0.0.1:8083/mqtt');
});

test.run();
