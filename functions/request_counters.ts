/** HTTP request metrics shared by the app and the runtime fast paths. */
import type { Metrics } from '../protocol/metrics.ts';

/** Answers by route, method and status, and requests in flight, shared by the app and the fast paths. */
export interface RequestCounters {
  inflight: number;
  /** Counts one answer; `route` is a route template (`routeOf`), never a raw path. */
  count(method: string, status: number, route?: string): void;
}

/** The routes of the app, as templates: a label with a handful of values, whatever paths people use. */
const ROUTES: [RegExp, string][] = [
  [/^\/files\/(?:.*\/)?$/, '/files/{folder}/'],
  [/^\/files\//, '/files/{path}'],
  [/^\/revisions\//, '/revisions/{path}'],
  [/^\/trash\//, '/trash/{path}'],
  [/^\/dashboard\//, '/dashboard/{asset}'],
  [/^\/internal\/content\//, '/internal/content/{sha256}'],
  [/^\/internal\/digest\/./, '/internal/digest/{bucket}'],
  [/^\/(?:changes|status|health|metrics|internal\/log|internal\/digest|internal\/stage)?$/, ''],
];

/**
 * The route template a request path falls under (`/files/{path}`, `/status`,
 * …), or `other` for paths no route serves (404s from scanners must not make
 * a label per path).
 *
 * @example
 * routeOf('/files/docs/a.txt') // '/files/{path}'
 * routeOf('/files/docs/')      // '/files/{folder}/'
 */
export function routeOf(path: string): string {
  for (const [pattern, route] of ROUTES) if (pattern.test(path)) return route || path;
  return 'other';
}

export function requestCounters(metrics: Metrics): RequestCounters {
  const answered = new Map<string, { labels: { route: string; method: string; code: string }; value: number }>();
  const out: RequestCounters = {
    inflight: 0,
    count(method, status, route = 'other') {
      const key = `${method} ${status} ${route}`;
      const slot = answered.get(key);
      if (slot) slot.value++;
      else answered.set(key, { labels: { method, code: String(status), route }, value: 1 });
    },
  };
  metrics.counterFrom('nuvem_http_requests_total', 'HTTP requests answered, by method, status and route', () => [...answered.values()]);
  metrics.gauge('nuvem_http_inflight_requests', 'HTTP requests being handled', () => out.inflight);
  return out;
}
