/**
 * The trash (nodes/trash.ts): `GET /trash/` or `GET /trash/{path}` lists the
 * deleted files still restorable at or under a path; `POST /trash/{path}`
 * restores one (or a folder's), as new versions that replicate like uploads.
 * Erasing for good is `DELETE /files/{path}?purge=true` (delete.ts).
 */
import { Hono } from 'hono';
import { parseEncodedPath } from '../protocol/paths.ts';
import type { Deps } from './deps.ts';
import { clampInt } from './headers.ts';
import { encodedRest } from './target.ts';
import { parseWriteConcern } from '../protocol/write_concern.ts';

export const MAX_TRASH_LIMIT = 1000;

export function trashApp(deps: Deps): Hono {
  const app = new Hono();
  const pathOf = (rest: string) => {
    const trimmed = rest.replace(/\/$/, '');
    return trimmed === '' ? '' : parseEncodedPath(trimmed);
  };
  app.get('/trash/*', (c) => {
    const path = pathOf(encodedRest(c, deps, '/trash/'));
    const page = deps.store.trash(path, {
      limit: clampInt(c.req.query('limit'), { min: 1, max: MAX_TRASH_LIMIT, fallback: MAX_TRASH_LIMIT }),
      cursor: c.req.query('cursor') || undefined,
    });
    return c.json({ entries: page.entries, next_cursor: page.nextCursor });
  });
  app.post('/trash/*', async (c) => {
    const path = parseEncodedPath(encodedRest(c, deps, '/trash/').replace(/\/$/, ''));
    const w = parseWriteConcern(c.req.query('w'));
    const restored = await deps.store.restore(path, { version: c.req.query('version') || undefined });
    const replicas = await deps.replication.awaitConcern(restored, w);
    return c.json({ restored, replicas }, 201);
  });
  return app;
}
