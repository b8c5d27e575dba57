/**
 * The live dashboard in headless Chromium (playwright-core, Debian's
 * chromium) against a real 3-node `nuvem up`: three cards online, an upload
 * in the feed within 3 s, the path box naming the nodes that hold it, a
 * `kill -9`ed node red within 2 s and online again after a restart, nothing
 * requested off this machine, no sideways scroll at 390 px, and screenshots
 * (light, dark, narrow) in tests/artifacts/. Then the broker's read token:
 * asked for once, kept in the tab. Every wait has a deadline; none is a
 * fixed sleep.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBroker } from '../broker/mod.ts';
import { chromiumMissing, isLocal, launchBrowser, type TestBrowser } from './_support/browser.ts';
import { REPO_ROOT, startNodeProcess } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';
import { startUpCluster, type UpCluster } from './_support/up_cluster.ts';

const ARTIFACTS = join(REPO_ROOT, 'tests', 'artifacts');
const card = (id: string, state?: string) => `article.node[data-node-id="${id}"]${state ? `[data-state="${state}"]` : ''}`;

/** Waits for `selector` and says how long it took; fails after `ms`, with what the page showed. */
async function seen(page: Page, selector: string, ms: number, since = Date.now()): Promise<number> {
  try {
    await page.waitForSelector(selector, { timeout: Math.max(1, ms - (Date.now() - since)), state: 'attached' });
  } catch (err) {
    const text = await page.evaluate(() => document.body.innerText).catch(() => '');
    throw new Error(`${selector} not seen within ${ms} ms: ${(err as Error).message.split('\n')[0]}\npage:\n${text.slice(0, 3000)}`);
  }
  return Date.now() - since;
}

async function put(url: string, path: string, body: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/files/${path.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', body });
  assert.ok(res.status === 201 || res.status === 200, `PUT ${path}: ${res.status}`);
  return res.json();
}

async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

test('the dashboard of a 3-node `nuvem up`: live cards, feed, path box, a kill -9 and a restart, all from this machine', async () => {
  if (chromiumMissing()) return;
  let up: UpCluster | undefined;
  let browser: TestBrowser | undefined;
  const times: string[] = [];
  try {
    up = await startUpCluster({ nodes: 3 });
    browser = await launchBrowser();
    const page = await browser.newPage({ colorScheme: 'light' });
    await page.goto(up.dashboard);
    for (const id of ['node-1', 'node-2', 'node-3']) await seen(page, card(id, 'online'), 20_000);
    assert.is(await page.locator('article.node').count(), 3);
    for (const id of ['node-1', 'node-2', 'node-3']) {
      const c = page.locator(card(id));
      assert.is(await c.locator('.node-id').textContent(), id, 'the full id, as text');
      assert.is(await c.locator('.badge').textContent(), 'online');
    }
    assert.match((await page.textContent('#summary')) ?? '', /^3 of 3 nodes online$/);

    // An upload shows in the feed within 3 s.
    const path = 'dash/report 2026.txt';
    const started = Date.now();
    const record = await put(up.nodes[1].url, path, 'hello dashboard');
    times.push(`feed ${await seen(page, `#feed li[data-kind="change"][data-op="put"]:has(.path:text-is("${path}"))`, 3000, started)} ms`);
    const item = page.locator('#feed li[data-kind="change"]').first();
    assert.match((await item.locator('.meta').textContent()) ?? '', /from node-2/);

    // The path box: w=auto answered once every online node had it, so all three hold it.
    assert.equal((record.replicas as string[]).sort(), ['node-1', 'node-2', 'node-3']);
    await page.fill('#path-input', path);
    await page.click('#path-form button');
    await seen(page, '#holders li[data-holds="yes"] >> nth=2', 5000);
    assert.equal(await page.locator('#holders li[data-holds="yes"]').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.nodeId)), ['node-1', 'node-2', 'node-3']);
    assert.match((await page.textContent('#holders-summary')) ?? '', /node-1, node-2, node-3 \(3 of 3\)/);

    // Whatever a message carries is shown as text, never as markup.
    const hostile = 'dash/<img src=x onerror="window.__pwned=1">.txt';
    await put(up.nodes[0].url, hostile, 'x');
    await seen(page, `#feed .path:text-is(${JSON.stringify(hostile)})`, 3000);
    assert.is(await page.locator('#feed img').count(), 0);
    assert.is(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned), undefined);
    const long = `dash/${'a-folder-name-that-does-not-break-'.repeat(6)}/file.txt`;
    await put(up.nodes[2].url, long, 'long');
    await seen(page, `#feed .path:text-is("${long}")`, 3000);

    // Figures and sparklines from the heartbeats.
    const c1 = page.locator(card('node-1'));
    assert.match((await c1.locator('[data-field="cpu"]').textContent()) ?? '', /^\d+%$/);
    assert.match((await c1.locator('[data-field="rss"]').textContent()) ?? '', /MiB|GiB/);
    assert.match((await c1.locator('[data-field="disk"]').textContent()) ?? '', /free of/);
    await page.waitForFunction(() => {
      const line = document.querySelector('article.node[data-node-id="node-1"] [data-spark="cpu"] polyline');
      return (line?.getAttribute('points') ?? '').split(' ').filter(Boolean).length >= 2;
    }, undefined, { timeout: 10_000 });

    // Screenshots: light and dark, wide; and at 390 px, with no sideways scroll.
    const light = await screenshot(page, 'dashboard-light.png');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'dashboard-dark.png');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => globalThis.innerWidth === 390);
    const scrollWidth = await page.evaluate(() => document.scrollingElement!.scrollWidth);
    assert.ok(scrollWidth <= 390, `no sideways scroll at 390 px: scrollWidth ${scrollWidth}`);
    await screenshot(page, 'dashboard-390-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
    if (process.env.NUVEM_UPDATE_SCREENSHOT) {
      mkdirSync(join(REPO_ROOT, 'docs'), { recursive: true });
      copyFileSync(light, join(REPO_ROOT, 'docs', 'dashboard.png')); // the README's picture
    }

    // kill -9: the broker publishes the node's Last Will, and the card turns red.
    const killed = Date.now();
    await up.killNode('node-3');
    times.push(`offline ${await seen(page, card('node-3', 'offline'), 2000, killed)} ms`);
    assert.is(await page.locator(`${card('node-3')} .badge`).textContent(), 'offline');
    assert.match((await page.textContent('#summary')) ?? '', /^2 of 3 nodes online$/);
    // Its heartbeat age keeps ticking while it is gone.
    const age = async () => Number(/^([\d.]+) s ago$/.exec((await page.locator(`${card('node-3')} .age`).textContent()) ?? '')?.[1] ?? NaN);
    const before = await age();
    await page.waitForFunction((b) => {
      const m = /^([\d.]+) s ago$/.exec(document.querySelector('article.node[data-node-id="node-3"] .age')?.textContent ?? '');
      return m !== null && Number(m[1]) >= b + 1;
    }, before, { timeout: 5000 });

    // Started again with the command line `up` gave it: online again.
    const restarting = Date.now();
    await up.restartNode('node-3');
    times.push(`online again ${await seen(page, card('node-3', 'online'), 60_000, restarting)} ms after the restart began`);

    const foreign = browser.requested.filter((u) => !isLocal(u));
    assert.equal(foreign, [], 'no request leaves the machine');
    assert.ok(browser.requested.some((u) => u.startsWith('ws://127.0.0.1:')), 'the page itself connected to the broker over WebSocket');
    assert.equal(browser.errors, [], 'no errors in the page');
    console.log(`  dashboard: ${times.join(', ')}`);
  } finally {
    await browser?.close();
    await up?.stop();
  }
});

test('with a broker --read-token the page asks for it once and keeps it in the tab', async () => {
  if (chromiumMissing()) return;
  const broker = await startBroker({ port: 0, wsPort: 0, token: 'node-secret', readToken: 'reader-secret' });
  const dir = tempDir('dash-token');
  let browser: TestBrowser | undefined;
  let node;
  try {
    node = await startNodeProcess({
      dataDir: dir.path,
      args: ['--id', 'guarded', '--broker', broker.mqttUrl, '--broker-ws', broker.wsUrl!, '--token', 'node-secret'],
    });
    browser = await launchBrowser();
    const page = await browser.newPage();
    // The page needs no HTTP token; the broker wants the read token.
    await page.goto(`${node.url}/`);
    await seen(page, '#token-form:not([hidden])', 10_000);
    await page.fill('#token-input', 'wrong');
    await page.click('#token-form button');
    await page.waitForFunction(() => /refused that token/.test(document.getElementById('token-why')?.textContent ?? ''), undefined, { timeout: 10_000 });
    await seen(page, '#token-form:not([hidden])', 10_000);
    await page.fill('#token-input', 'reader-secret');
    await page.click('#token-form button');
    await seen(page, card('guarded', 'online'), 10_000);
    assert.is(await page.evaluate(() => sessionStorage.getItem('nuvem.readToken')), 'reader-secret');

    await page.reload();
    await seen(page, card('guarded', 'online'), 10_000);
    assert.ok(await page.locator('#token-form').isHidden(), 'not asked again in this tab');
    assert.equal(browser.requested.filter((u) => !isLocal(u)), []);
  } finally {
    await browser?.close();
    await node?.stop();
    await broker.close();
    dir.cleanup();
  }
});

test.run();
