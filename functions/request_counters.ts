/** HTTP request metrics shared by the app and the runtime fast paths. */
import type { Metrics } from '../protocol/metrics.ts';

/** Answers by method and status, and requests in flight, shared by the app and the fast paths. */
export interface RequestCounters {
  inflight: number;
  count(method: string, status: number): void;
}

export function requestCounters(metrics: Metrics): RequestCounters {
  const answered = new Map<string, number>(); // "METHOD STATUS" → count
  const out: RequestCounters = {
    inflight: 0,
    count(method, status) {
      const key = `${method} ${status}`;
      answered.set(key, (answered.get(key) ?? 0) + 1);
    },
  };
  metrics.counterFrom('nuvem_http_requests_total', 'HTTP requests answered, by method and status', () =>
    [...answered].map(([key, value]) => {
      const [method, code] = key.split(' ');
      return { labels: { method, code }, value };
    }));
  metrics.gauge('nuvem_http_inflight_requests', 'HTTP requests being handled', () => out.inflight);
  return out;
}
