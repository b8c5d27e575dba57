/** `MOVE /files/{path}` with `Destination`: a server-side rename, no bytes copied. */
import { Hono } from 'hono';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { Deps } from './deps.ts';
import { parseConditions, parseDestination, parseOverwrite } from './headers.ts';
import { encodedRest } from './target.ts';
import { jsonWithArray } from './json_stream.ts';
import { parseWriteConcern } from '../protocol/write_concern.ts';

export function moveApp(deps: Deps): Hono {
  const app = new Hono();
  app.on('MOVE', '/files/*', async (c) => {
    const from = parseEncodedPath(encodedRest(c, deps, '/files/').replace(/\/$/, ''));
    const to = parseEncodedPath(parseDestination(c.req.header('destination')).replace(/\/$/, ''));
    const w = parseWriteConcern(c.req.query('w'));
    const existed = deps.store.get(to)?.deleted === false;
    const records = await deps.store.move(from, to, {
      ...parseConditions((n) => c.req.header(n)),
      overwrite: parseOverwrite(c.req.header('overwrite')),
    });
    const replicas = await deps.replication.awaitConcern(records, w);
    const moved = records.find((r) => r.path === to);
    if (moved) return c.json({ ...moved, replicas }, existed ? 200 : 201, { etag: `"${moved.version}"` });
    // A folder without a record of its own: its entries, written a slice at a time (json_stream.ts).
    return new Response(jsonWithArray({ path: to, type: 'folder', replicas }, { key: 'entries', items: records }), {
      status: existed ? 200 : 201,
      headers: { 'content-type': 'application/json' },
    });
  });
  return app;
}
