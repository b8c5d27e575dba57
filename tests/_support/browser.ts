/**
 * Headless Chromium through playwright-core, with the Debian `chromium`
 * package's binary (`.ci/run` installs it; NUVEM_CHROMIUM overrides the
 * path). Each browser gets a fresh profile in a temp folder and the flags
 * that keep it from calling home, so a test can check that no request
 * leaves the machine. Without the binary the browser tests are skipped,
 * saying so, unless NUVEM_REQUIRE_CHROMIUM is set (CI).
 *
 * @example
 * if (chromiumMissing()) return;
 * const browser = await launchBrowser();
 * const page = await browser.context.newPage();
 * await browser.close();
 */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext, type Page, type Request, type WebSocket } from 'playwright-core';
import { skipped } from './skip.ts';
import { tempDir } from './temp.ts';

export const CHROMIUM = process.env.NUVEM_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumMissing(): boolean {
  if (existsSync(CHROMIUM)) return false;
  skipped(`no Chromium at ${CHROMIUM}`, { required: 'NUVEM_REQUIRE_CHROMIUM', hint: 'apt-get install chromium, or set NUVEM_CHROMIUM' });
  return true;
}

export interface TestBrowser {
  context: BrowserContext;
  /** Every URL the browser asked for (pages, scripts, fetches, WebSockets), in order. */
  requested: string[];
  /** What the pages printed as errors (console.error, uncaught exceptions). */
  errors: string[];
  newPage(options?: { colorScheme?: 'light' | 'dark'; width?: number; height?: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = tempDir('chromium-profile');
  // A persistent context is how Playwright takes a profile folder (it refuses --user-data-dir in args).
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const requested: string[] = [];
  const errors: string[] = [];
  context.on('request', (r: Request) => requested.push(r.url()));
  const watch = (page: Page) => {
    page.on('websocket', (ws: WebSocket) => requested.push(ws.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (err) => errors.push(String(err)));
  };
  context.on('page', watch);
  for (const page of context.pages()) watch(page);
  return {
    context,
    requested,
    errors,
    async newPage(options = {}) {
      const page = await context.newPage();
      await page.setViewportSize({ width: options.width ?? 1280, height: options.height ?? 900 });
      if (options.colorScheme) await page.emulateMedia({ colorScheme: options.colorScheme });
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      profile.cleanup();
    },
  };
}

/** Hosts a request may go to: this machine only. */
export function isLocal(url: string): boolean {
  if (url.startsWith('data:') || url === 'about:blank') return true;
  if (url.startsWith('blob:')) return isLocal(url.slice('blob:'.length)); // an object URL made by a page of that origin
  try {
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  } catch {
    return false;
  }
}
