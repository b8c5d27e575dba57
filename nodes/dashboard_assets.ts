/**
 * The dashboard's files, read once at start: the page, script and style from
 * `functions/dashboard/`, and the MQTT.js browser build from the installed
 * `mqtt` package (`node_modules/mqtt/dist/mqtt.esm.js`), so the page works
 * with no internet. Found by walking up from this module, the entry script
 * and the working folder, so it works under tsx, from the esbuild bundle in
 * `dist/` and under Deno alike.
 *
 * @example
 * const dashboard = await loadDashboardAssets({ brokerWs: 'ws://127.0.0.1:8083/mqtt' });
 * createApp({ ...deps, dashboard });
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { DashboardAssets, DashboardFile } from '../functions/mod.ts';

const PAGE_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'model.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
const PAGE_DIR = join('functions', 'dashboard');
const MQTT_BUILD = join('node_modules', 'mqtt', 'dist', 'mqtt.esm.js');

/** Folders to search upwards from: this module's (not in the bundle), the entry script's, the working folder. */
function starts(): string[] {
  const out: string[] = [];
  // esbuild's CommonJS bundle has no import.meta.url; tsx and Deno have it.
  const here = (import.meta as { url?: string }).url;
  if (here?.startsWith('file:')) out.push(dirname(fileURLToPath(here)));
  if (process.argv[1]) out.push(dirname(process.argv[1]));
  out.push(process.cwd());
  return out;
}

/** The first `dir/rel` that exists, for `dir` each start folder and its parents. */
export async function findUp(rel: string, from: string[] = starts()): Promise<string | undefined> {
  for (const start of from) {
    for (let dir = start; ; dir = dirname(dir)) {
      const path = join(dir, rel);
      if (await fsp.stat(path).then((s) => s.isFile(), () => false)) return path;
      if (dirname(dir) === dir) break;
    }
  }
  return undefined;
}

async function file(path: string, type: string): Promise<DashboardFile> {
  const body = new Uint8Array(await fsp.readFile(path));
  return { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * The assets, or as many as were found: `missing` names the others (the node
 * logs them; the page says what it lacks).
 */
export async function loadDashboardAssets(options: { brokerWs: string; prefix?: string; from?: string[] }): Promise<DashboardAssets & { missing: string[] }> {
  const files = new Map<string, DashboardFile>();
  const missing: string[] = [];
  const page = await findUp(join(PAGE_DIR, 'index.html'), options.from);
  for (const [name, type] of Object.entries(PAGE_FILES)) {
    const path = page && join(dirname(page), name);
    const got = path ? await file(path, type).catch(() => undefined) : undefined;
    if (got) files.set(name, got);
    else missing.push(join(PAGE_DIR, name));
  }
  const mqtt = await findUp(MQTT_BUILD, options.from);
  if (mqtt) files.set('mqtt.esm.js', await file(mqtt, 'text/javascript; charset=utf-8'));
  else missing.push(MQTT_BUILD);
  return { files, brokerWs: options.brokerWs, prefix: options.prefix ?? 'nuvem', missing };
}
