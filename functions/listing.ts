/** Folder listings (`GET /files/{folder}/`) and kept revisions (`GET /revisions/{path}`). */
import { Hono, type Context } from 'hono';
import { notFound } from '../protocol/errors.ts';
import { parseEncodedPath, parseFolder } from '../protocol/paths.ts';
import type { Deps } from './deps.ts';
import { clampInt, isTrue } from './headers.ts';
import { encodedRest } from './target.ts';

export const MAX_LIST_LIMIT = 1000;

export function listFolderResponse(c: Context, deps: Deps, encodedFolder: string): Response {
  const folder = parseFolder(encodedFolder);
  const page = deps.store.list(folder, {
    recursive: isTrue(c.req.query('recursive')),
    limit: clampInt(c.req.query('limit'), { min: 1, max: MAX_LIST_LIMIT, fallback: MAX_LIST_LIMIT }),
    cursor: c.req.query('cursor') || undefined,
  });
  return c.json({ entries: page.entries, next_cursor: page.nextCursor });
}

export function revisionsApp(deps: Deps): Hono {
  const app = new Hono();
  app.get('/revisions/*', (c) => {
    const path = parseEncodedPath(encodedRest(c, deps, '/revisions/'));
    const revisions = deps.store.revisions(path);
    if (revisions.length === 0 && !deps.store.get(path)) throw notFound(path);
    return c.json({ revisions });
  });
  return app;
}
