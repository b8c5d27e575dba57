/**
 * `nuvem broker`: the embedded MQTT broker on its own (DESIGN.md section 5).
 * Also runs directly: `npx tsx broker/main.ts --port 1883 --ws-port 8083`, and
 * unchanged under Deno 2: `deno task broker --port 1883` (`--allow-net --allow-env`).
 *
 * Options:
 *   --port P          MQTT over TCP (default 1883; 0 = any free port)
 *   --ws-port P       MQTT over WebSocket at /mqtt, for browsers (default 8083; 0 = any free port)
 *   --host H          address to bind (default 127.0.0.1; anything but loopback needs --token)
 *   --token T         nodes connect with this password, their node id as username (default $NUVEM_TOKEN)
 *   --node-token N    nodes' own secret: nodes connect with a credential derived from it; --token then makes a client that may only subscribe (default $NUVEM_NODE_TOKEN)
 *   --read-token R    dashboards connect with this password: subscribe only (needs --token)
 *   --log-level L     debug | info | warn | error (default info); refusals are logged at debug
 */
import { pathToFileURL } from 'node:url';
import { createLog, type Level } from '../protocol/log.ts';
import { DEFAULT_MQTT_PORT, DEFAULT_WS_PORT, startBroker } from './mod.ts';
import { parseFlags, parseLevel } from '../protocol/flags.ts';
import { UsageError } from '../protocol/errors.ts';

export const BROKER_USAGE = `Usage: nuvem broker [--port 1883] [--ws-port 8083] [--host 127.0.0.1] [--token T] [--node-token N]
                    [--read-token R] [--log-level info]

  The MQTT broker alone: TCP on --port, WebSocket at /mqtt on --ws-port (for
  browsers). Logs are JSON lines on stdout; SIGINT or SIGTERM stops it.

Options:
  --port P          MQTT over TCP (default 1883; 0 = any free port)
  --ws-port P       MQTT over WebSocket at /mqtt, for browsers (default 8083; 0 = any free port)
  --host H          address to bind (default 127.0.0.1; anything but loopback needs --token)
  --token T         nodes connect with this password, their node id as username (default $NUVEM_TOKEN)
  --node-token N    nodes' own secret: nodes connect with a credential derived from it; --token then
                    makes a client that may only subscribe (default $NUVEM_NODE_TOKEN)
  --read-token R    dashboards connect with this password: subscribe only (needs --token)
  --log-level L     debug | info | warn | error (default info); refusals are logged at debug
  --help            this text
`;

export interface BrokerConfig {
  host: string;
  port: number;
  wsPort: number;
  token?: string;
  nodeToken?: string;
  readToken?: string;
  logLevel: Level;
}

export function parseBrokerArgs(argv: string[], env: Record<string, string | undefined>): BrokerConfig {
  const values = parseFlags(argv, {
    port: { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    token: { type: 'string' },
    'read-token': { type: 'string' },
    'node-token': { type: 'string' },
    'log-level': { type: 'string' },
  });
  const level = parseLevel(values['log-level']);
  const token = values.token ?? (env.NUVEM_TOKEN || undefined);
  if (values.token === '') throw new UsageError('Cannot use an empty --token');
  if (values['read-token'] === '') throw new UsageError('Cannot use an empty --read-token');
  return {
    host: values.host ?? '127.0.0.1',
    port: portOption('--port', values.port ?? String(DEFAULT_MQTT_PORT)),
    wsPort: portOption('--ws-port', values['ws-port'] ?? String(DEFAULT_WS_PORT)),
    token,
    readToken: values['read-token'],
    logLevel: level,
    ...nodeTokenOf(values['node-token'] ?? (env.NUVEM_NODE_TOKEN || undefined)),
  };
}

/** Runs the broker until SIGINT or SIGTERM; resolves once it listens. */
export async function runBroker(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(BROKER_USAGE);
    return;
  }
  const config = parseBrokerArgs(argv, process.env);
  const log = createLog({ level: config.logLevel });
  const running = await startBroker({ ...config, log });
  log('info', 'broker listening', { mqtt: running.mqttUrl, ws: running.wsUrl });
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1); // a second Ctrl-C: do not wait
    stopping = true;
    running.close().then(
      () => {
        log('info', 'broker stopped');
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Present only when given: most brokers run without one. */
function nodeTokenOf(nodeToken: string | undefined): { nodeToken?: string } {
  if (nodeToken === '') throw new UsageError('Cannot use an empty --node-token');
  return nodeToken === undefined ? {} : { nodeToken };
}

function portOption(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`Cannot use ${name} "${value}": expected a port from 0 to 65535`);
  return n;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runBroker(process.argv.slice(2)).catch((err) => {
    console.error(`nuvem broker: ${err instanceof Error ? err.message : err}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
