/** `MOVE /files/{path}` with `Destination`: a server-side rename, no bytes copied. */
import { Hono } from 'hono';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { Deps } from './deps.ts';
import { parseConditions, parseDestination, parseOverwrite } from './headers.ts';
import { encodedRest } from './target.ts';
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
    const body = moved ? { ...moved, replicas } : { path: to, type: 'folder', entries: records, replicas };
    return c.json(body, existed ? 200 : 201, moved ? { etag: `"${moved.version}"` } : {});
  });
  return app;
}
