/**
 * An MQTT client for tests that records every message it receives (with the
 * time it arrived) and waits for one matching a predicate.
 *
 * @example
 * const watch = await watchTopics(broker.url, ['nuvem/nodes/+/status']);
 * const m = await watch.waitFor((m) => m.json?.state === 'offline', { timeoutMs: 2000 });
 * await watch.close();
 */
// deno-lint-ignore-file no-explicit-any -- JSON answers and messages are read untyped in tests and benchmarks
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Seen {
  topic: string;
  payload: string;
  /** The payload parsed as JSON, or undefined. */
  json: any;
  retain: boolean;
  /** `performance.now()` when it arrived. */
  at: number;
}

export interface Watch {
  client: MqttClient;
  seen: Seen[];
  /** Resolves with the first message (already seen, or arriving) that matches; rejects after `timeoutMs`. */
  waitFor(match: (m: Seen) => boolean, options?: { timeoutMs?: number; since?: number; what?: string }): Promise<Seen>;
  close(): Promise<void>;
}

export async function watchTopics(url: string, filters: string[], options: IClientOptions = {}): Promise<Watch> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
  const seen: Seen[] = [];
  const waiters = new Set<(m: Seen) => void>();
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const m: Seen = { topic, payload: text, json, retain: packet.retain, at: performance.now() };
    seen.push(m);
    for (const w of [...waiters]) w(m);
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    seen,
    waitFor(match, { timeoutMs = 5000, since = 0, what = 'a matching message' } = {}) {
      const already = seen.slice(since).find(match);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no MQTT message with ${what} within ${timeoutMs} ms; saw ${seen.length}:\n` +
            seen.slice(-20).map((m) => `  ${m.topic} ${m.payload.slice(0, 200)}`).join('\n')));
        }, timeoutMs);
        const check = (m: Seen) => {
          if (!match(m)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        waiters.add(check);
      });
    },
    close: () => client.endAsync(true).catch(() => {}),
  };
}
