/** `DELETE /files/{path}`: a tombstone; folders need `?recursive=true`. */
import { Hono } from 'hono';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { Deps } from './deps.ts';
import { isTrue, parseConditions } from './headers.ts';
import { encodedRest } from './target.ts';
import { parseWriteConcern } from '../protocol/write_concern.ts';

export function deleteApp(deps: Deps): Hono {
  const app = new Hono();
  app.delete('/files/*', async (c) => {
    const path = parseEncodedPath(encodedRest(c, deps, '/files/').replace(/\/$/, ''));
    const w = parseWriteConcern(c.req.query('w'));
    const conditions = parseConditions((n) => c.req.header(n));
    const tombstones = await deps.store.remove(path, { ...conditions, recursive: isTrue(c.req.query('recursive')) });
    await deps.replication.awaitConcern(tombstones, w);
    return c.body(null, 204);
  });
  return app;
}
