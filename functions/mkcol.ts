/** `MKCOL /files/{path}`: an empty folder. */
import { Hono } from 'hono';
import { NuvemError } from '../protocol/errors.ts';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { Deps } from './deps.ts';
import { encodedRest } from './target.ts';
import { parseWriteConcern } from '../protocol/write_concern.ts';

export function mkcolApp(deps: Deps): Hono {
  const app = new Hono();
  app.on('MKCOL', '/files/*', async (c) => {
    const path = parseEncodedPath(encodedRest(c, deps, '/files/').replace(/\/$/, ''));
    const w = parseWriteConcern(c.req.query('w'));
    if (c.req.header('content-length') && c.req.header('content-length') !== '0') {
      throw new NuvemError('bad_request', 'MKCOL takes no body');
    }
    const record = await deps.store.mkcol(path);
    const replicas = await deps.replication.awaitConcern([record], w);
    return c.json({ ...record, replicas }, 201, { etag: `"${record.version}"` });
  });
  return app;
}
