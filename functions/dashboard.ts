/** `GET /`: a small page with this node's status; it refreshes itself. */
import { Hono } from 'hono';
import type { Deps } from './deps.ts';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nuvem node</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}</style>
</head><body><h1>Nuvem</h1><table id="nodes"><thead><tr><th>node</th><th>state</th><th>files</th><th>bytes</th><th>seq</th></tr></thead><tbody></tbody></table>
<script>
async function refresh() {
  try {
    const s = await (await fetch('status')).json();
    const row = document.createElement('tr');
    row.dataset.nodeId = s.id; row.dataset.state = s.state;
    for (const v of [s.id, s.state, s.files, s.bytes, s.seq]) { const td = document.createElement('td'); td.textContent = String(v); row.append(td); }
    document.querySelector('#nodes tbody').replaceChildren(row);
  } catch {}
}
refresh(); setInterval(refresh, 1000);
</script></body></html>`;

export function dashboardApp(_deps: Deps): Hono {
  const app = new Hono();
  app.get('/', (c) => c.html(PAGE));
  return app;
}
