/**
 * How the client learns the cluster (DESIGN.md sections 4 and 5), feeding
 * `ClusterState`:
 *
 * - `connectBroker`: subscribes to the nodes' retained status, the change
 *   notices and the acks. Messages are checked with the broker's own
 *   validators; malformed ones are ignored and counted.
 * - `pollStatus`: `GET /status` of each node, for a client given node URLs
 *   and no broker (and as a fallback while the broker is unreachable); the
 *   time to the answer is also a latency sample.
 * - `probeLatency`: `GET /health` of each available node not measured yet
 *   (or measured too long ago), so that even a client that only writes
 *   chooses by latency, and a slow node is found without real requests.
 *
 * The MQTT username is `client`: MQTT.js sends no password without one.
 */
import type { MqttClient } from 'mqtt';
import { parseAckMessage, parseChangeMessage, parseStatusMessage, type ChangeMessage } from '../protocol/messages.ts';
import { parseTopic } from '../protocol/topics.ts';
import type { ClusterState } from './cluster_state.ts';
import { NuvemBrokerError } from './errors.ts';
import { unavailability } from './selection.ts';
import type { FetchLike } from './types.ts';

export interface BrokerLink {
  readonly connected: boolean;
  /** Messages ignored as malformed, by kind. */
  readonly ignored: Record<string, number>;
  /** Calls `listener` for each change notice until the returned function is called. */
  onChange(listener: (change: ChangeMessage) => void): () => void;
  /** Calls `listener` when the connection to the broker is lost (notices may be missed until it is back) and when it is back. */
  onConnection(listener: (connected: boolean) => void): () => void;
  close(): Promise<void>;
}

export interface BrokerOptions {
  url: string;
  state: ClusterState;
  token?: string;
  prefix?: string;
  /** Gives up connecting after this long, and waits at most this long for a first online node. */
  timeoutMs: number;
}

/** Quiet time after which the retained status messages are taken as all delivered. */
const SETTLE_MS = 40;

/**
 * Connects and subscribes; resolves once the retained status has arrived
 * (no new one for a moment, and at least one online node or `timeoutMs`).
 */
export async function connectBroker(options: BrokerOptions): Promise<BrokerLink> {
  const prefix = options.prefix ?? 'nuvem';
  const listeners = new Set<(change: ChangeMessage) => void>();
  const connectionListeners = new Set<(connected: boolean) => void>();
  const ignored: Record<string, number> = {};
  const count = (kind: string) => void (ignored[kind] = (ignored[kind] ?? 0) + 1);
  let lastStatusAt = 0;
  let anyOnline = false;
  let client: MqttClient;
  try {
    // Loaded only here: a client given node URLs never needs MQTT.js (~0.2 s to load).
    const mqtt = (await import('mqtt')).default;
    client = await mqtt.connectAsync(options.url, {
      clientId: `nuvem-client-${Math.random().toString(16).slice(2, 10)}`,
      username: 'client',
      password: options.token,
      connectTimeout: options.timeoutMs,
      reconnectPeriod: 1000,
      clean: true,
    }, false);
  } catch (err) {
    throw new NuvemBrokerError(`Cannot reach the MQTT broker at ${options.url}: ${(err as Error).message || String(err)}`, { broker: options.url, cause: err });
  }
  client.on('error', () => {}); // reconnects on its own; `connected` tells
  let up = true;
  const tell = (connected: boolean) => {
    if (connected === up) return;
    up = connected;
    for (const listener of connectionListeners) listener(connected);
  };
  client.on('offline', () => tell(false));
  client.on('close', () => tell(false));
  client.on('connect', () => tell(true));
  client.on('message', (topic, payload, packet) => {
    const parsed = parseTopic(topic, { prefix });
    if (!parsed) return count('topic');
    if (parsed.kind === 'status') {
      const m = parseStatusMessage(payload);
      if (!m.ok || m.value.id !== parsed.node) return count('status');
      options.state.onStatus(m.value, { retained: packet.retain });
      lastStatusAt = performance.now();
      if (m.value.state === 'online') anyOnline = true;
    } else if (parsed.kind === 'file') {
      const m = parseChangeMessage(payload);
      if (!m.ok || m.value.path !== parsed.path) return count('change');
      options.state.onChange(m.value);
      for (const listener of listeners) listener(m.value);
    } else if (parsed.kind === 'ack') {
      const m = parseAckMessage(payload);
      if (!m.ok || m.value.origin !== parsed.origin) return count('ack');
      options.state.onAck(m.value);
    }
  });
  try {
    const granted = await client.subscribeAsync([`${prefix}/nodes/+/status`, `${prefix}/files/#`, `${prefix}/acks/+`], { qos: 1 });
    if (granted.some((g) => g.qos === 128)) throw new Error('the broker refused the subscription (is the token right?)');
  } catch (err) {
    await client.endAsync(true).catch(() => {});
    throw new NuvemBrokerError(`Cannot subscribe at the MQTT broker ${options.url}: ${(err as Error).message}`, { broker: options.url, cause: err });
  }
  const subscribedAt = performance.now();
  lastStatusAt = Math.max(lastStatusAt, subscribedAt);
  while (performance.now() - lastStatusAt < SETTLE_MS || (!anyOnline && performance.now() - subscribedAt < options.timeoutMs)) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    get connected() {
      return client.connected;
    },
    ignored,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onConnection(listener) {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },
    close: () => client.endAsync(true).then(() => {}, () => {}),
  };
}

export interface PollOptions {
  state: ClusterState;
  fetch: FetchLike;
  token?: string;
  timeoutMs: number;
  /** Interval at which polling repeats: how long a polled status stays fresh is 3 × this. */
  everyMs: number;
}

/** Polls `GET /status` of each URL once, in parallel. */
export async function pollStatus(urls: readonly string[], options: PollOptions): Promise<void> {
  await Promise.all(urls.map((url) => pollOne(url, options)));
}

async function pollOne(url: string, options: PollOptions): Promise<void> {
  const { state } = options;
  const key = state.idOf(url) ?? url;
  const track = state.begin(key, { background: true });
  const started = performance.now();
  let res: Response;
  try {
    res = await options.fetch(`${url}/status`, {
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    track.answered({ failed: true });
    track.finished();
    const cause = (err as Error)?.cause as Error | undefined;
    state.onUnreachable(url, cause?.message ?? (err as Error)?.message ?? String(err));
    return;
  }
  const latencyMs = performance.now() - started;
  try {
    const text = await res.text();
    if (!res.ok) throw new Error(`its /status answered ${res.status}`);
    const status = parseStatusMessage(text);
    if (!status.ok) throw new Error(`its /status is not a node status: ${status.reason}`);
    state.onStatus(status.value, { polled: { url, everyMs: options.everyMs } });
    track.answered({ latencyMs });
  } catch (err) {
    state.onNoStatus(url, (err as Error)?.message ?? String(err));
  } finally {
    track.finished();
  }
}

/** Measures the nodes that are up and have no fresh latency: `GET /health`, twice if the first answer only warmed up. */
export async function probeLatency(options: Omit<PollOptions, 'everyMs' | 'token'>): Promise<void> {
  const { state } = options;
  const unmeasured = () => state.views().filter((v) => unavailability(v) === undefined && v.latencyMs === undefined);
  await Promise.all(unmeasured().map(async (node) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const track = state.begin(node.id, { background: true });
      const started = performance.now();
      try {
        const res = await options.fetch(`${node.url}/health`, { signal: AbortSignal.timeout(options.timeoutMs) });
        track.answered({ latencyMs: performance.now() - started });
        await res.body?.cancel();
      } catch {
        track.answered({ failed: true });
        return;
      } finally {
        track.finished();
      }
      if (!unmeasured().some((v) => v.id === node.id)) return;
    }
  }));
}
