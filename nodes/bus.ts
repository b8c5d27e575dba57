/**
 * This node's MQTT connection: its retained status heartbeat on
 * `nuvem/nodes/{id}/status`, with a Last Will saying `offline`. The node
 * serves HTTP whether or not a broker is reachable; it says so once.
 */
import mqtt from 'mqtt';
import type { Log } from './log.ts';

export interface Bus {
  /** Publishes the status now (on change) besides every heartbeat. */
  publishStatus(): void;
  close(): Promise<void>;
}

export function connectBus(options: {
  url: string;
  nodeId: string;
  token?: string;
  prefix?: string;
  heartbeatMs: number;
  status: () => Record<string, unknown>;
  log: Log;
}): Bus {
  const prefix = options.prefix ?? 'nuvem';
  const topic = `${prefix}/nodes/${options.nodeId}/status`;
  const offline = () => JSON.stringify({ ...options.status(), state: 'offline', ts: Date.now() });
  const client = mqtt.connect(options.url, {
    clientId: `nuvem-node-${options.nodeId}`,
    username: options.token ? options.nodeId : undefined,
    password: options.token,
    reconnectPeriod: 1000,
    connectTimeout: 3000,
    will: { topic, payload: Buffer.from(offline()), qos: 1, retain: true },
  });
  let saidUnreachable = false;
  let connected = false;
  client.on('connect', () => {
    connected = true;
    saidUnreachable = false;
    options.log('info', 'connected to broker', { broker: options.url });
    publish();
  });
  client.on('error', (err) => {
    if (!saidUnreachable) options.log('warn', 'broker unreachable; serving HTTP without it', { broker: options.url, error: err.message });
    saidUnreachable = true;
  });
  client.on('offline', () => {
    if (!saidUnreachable && !connected) options.log('warn', 'broker unreachable; serving HTTP without it', { broker: options.url });
    if (connected) options.log('warn', 'lost the broker; retrying', { broker: options.url });
    saidUnreachable = true;
    connected = false;
  });
  const publish = () => {
    if (client.connected) client.publish(topic, JSON.stringify(options.status()), { qos: 1, retain: true });
  };
  const timer = setInterval(publish, options.heartbeatMs);
  return {
    publishStatus: publish,
    async close() {
      clearInterval(timer);
      if (client.connected) {
        await client.publishAsync(topic, offline(), { qos: 1, retain: true }).catch(() => {});
      }
      await client.endAsync(true).catch(() => {});
    },
  };
}
