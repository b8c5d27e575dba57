/**
 * `DELETE /files/{path}`: a tombstone (the deleted version stays in the trash);
 * folders need `?recursive=true`. With `?purge=true`, an erase: the path, what
 * of it is in the trash, and every kept revision go on every node now.
 */
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
    const options = { ...conditions, recursive: isTrue(c.req.query('recursive')) };
    const tombstones = isTrue(c.req.query('purge')) ? await deps.store.erase(path, options) : await deps.store.remove(path, options);
    await deps.replication.awaitConcern(tombstones, w);
    return c.body(null, 204);
  });
  return app;
}
