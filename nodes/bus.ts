/**
 * This node's MQTT connection: its retained status heartbeat on
 * `nuvem/nodes/{id}/status` (Last Will: `offline`), publishing, and
 * subscriptions. The node works whether or not a broker is reachable; it
 * says so once. Any MQTT 3.1.1 broker will do.
 */
import mqtt from 'mqtt';
import { statusMessage, type StatusMessage } from '../protocol/messages.ts';
import { statusTopic } from '../protocol/topics.ts';
import type { Log } from '../protocol/log.ts';

export interface Bus {
  readonly connected: boolean;
  publish(topic: string, payload: string, options?: { retain?: boolean }): void;
  /** Publishes the status now (on change) besides every heartbeat. */
  publishStatus(): void;
  close(): Promise<void>;
}

export function connectBus(options: {
  url: string;
  nodeId: string;
  /** The broker password: the node's credential, or the cluster token. */
  password?: string;
  prefix?: string;
  heartbeatMs: number;
  status: () => Record<string, unknown>;
  subscriptions: string[];
  /** `retained`: delivered from the broker's retained messages (at subscribe), not published just now. */
  onMessage: (topic: string, payload: Buffer, retained: boolean) => void;
  onConnect?: () => void;
  log: Log;
}): Bus {
  const topic = statusTopic(options.nodeId, { prefix: options.prefix });
  // What we send is what we accept: the heartbeat goes through the same
  // builder and checks as every receiver's parser. One that fails them is
  // not sent (logged once per reason), never thrown into a timer.
  let refusedReason = '';
  const build = (status: Record<string, unknown>): string | undefined => {
    try {
      return statusMessage(status as StatusMessage & Record<string, unknown>);
    } catch (err) {
      const reason = (err as Error).message;
      if (reason !== refusedReason) options.log('error', 'status message refused by its own checks; not sent', { reason });
      refusedReason = reason;
      return undefined;
    }
  };
  const offline = () => build({ ...options.status(), state: 'offline', ts: Date.now() }) ?? '';
  const client = mqtt.connect(options.url, {
    clientId: `nuvem-node-${options.nodeId}`,
    username: options.nodeId,
    password: options.password,
    reconnectPeriod: 1000,
    connectTimeout: 3000,
    // Keepalive at least a few heartbeats: the broker's Last Will fires
    // within 1.5 × keepalive of a vanished host.
    keepalive: Math.max(2, Math.ceil((3 * options.heartbeatMs) / 1500)),
    will: { topic, payload: Buffer.from(offline()), qos: 1, retain: true },
  });
  let saidUnreachable = false;
  let wasConnected = false;
  client.on('connect', () => {
    // Small messages (notices, acks) must not wait for Nagle's algorithm:
    // it adds ~40 ms to every hop of a write's acknowledgement.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    wasConnected = true;
    saidUnreachable = false;
    options.log('info', 'connected to broker', { broker: options.url });
    client.subscribe(options.subscriptions, { qos: 1 });
    publishStatus();
    options.onConnect?.();
  });
  client.on('message', (t, payload, packet) => options.onMessage(t, payload, packet.retain === true));
  client.on('error', (err) => {
    if (!saidUnreachable) options.log('warn', 'broker unreachable; serving HTTP without it', { broker: options.url, error: err.message });
    saidUnreachable = true;
  });
  client.on('offline', () => {
    if (!saidUnreachable) {
      options.log('warn', wasConnected ? 'lost the broker; retrying' : 'broker unreachable; serving HTTP without it', { broker: options.url });
    }
    saidUnreachable = true;
  });
  const publishStatus = () => {
    if (!client.connected) return;
    const payload = build(options.status());
    if (payload !== undefined) client.publish(topic, payload, { qos: 1, retain: true });
  };
  const timer = setInterval(publishStatus, options.heartbeatMs);
  return {
    get connected() {
      return client.connected;
    },
    publish(t, payload, o = {}) {
      if (client.connected) client.publish(t, payload, { qos: 1, retain: o.retain ?? false });
    },
    publishStatus,
    async close() {
      clearInterval(timer);
      if (client.connected) await client.publishAsync(topic, offline(), { qos: 1, retain: true }).catch(() => {});
      await client.endAsync(true).catch(() => {});
    },
  };
}
