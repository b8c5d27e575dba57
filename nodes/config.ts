/**
 * The node's configuration: the one place that reads argv and the environment.
 *
 * Options (`nuvem node …`):
 *   --id ID              node id ([a-z0-9_-], generated and kept in DATA/.nuvem/node-id when absent)
 *   --port P             HTTP port (0 = any free port; default 7001)
 *   --data DIR           data folder: files in DIR/files, metadata in DIR/.nuvem (default ./data)
 *   --host H             address to bind (default 127.0.0.1; anything but loopback needs --token)
 *   --public-url URL     URL peers and clients use for this node (default http://HOST:PORT)
 *   --broker URL         MQTT broker (default $NUVEM_BROKER or mqtt://127.0.0.1:1883)
 *   --embedded-broker    run an Aedes broker inside this node
 *   --no-watch           do not watch the files folder for edits
 *   --token T            bearer token for HTTP and MQTT (default $NUVEM_TOKEN)
 *   --log-level L        debug | info | warn | error (default info)
 *   --revisions N        revisions kept per path (default 10)
 *   --heartbeat-ms N     heartbeat interval (default 1000)
 *   --anti-entropy-ms N  interval between anti-entropy passes (default 30000)
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { NODE_ID } from './clock.ts';
import { isLevel, type Level } from './log.ts';

export interface NodeConfig {
  id?: string;
  host: string;
  port: number;
  dataDir: string;
  publicUrl?: string;
  broker: string;
  embeddedBroker: boolean;
  watch: boolean;
  token?: string;
  logLevel: Level;
  keepRevisions: number;
  heartbeatMs: number;
  antiEntropyMs: number;
}

/** A usage mistake: the CLI prints it and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

/** A command's flags (no positionals), parsed strictly; a bad flag is a UsageError. Shared by node, broker and up. */
export function parseFlags<O extends FlagSpecs>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true as const, allowPositionals: false as const, options }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `--log-level`, default info. */
export function parseLevel(value: string | undefined): Level {
  const level = value ?? 'info';
  if (!isLevel(level)) throw new UsageError(`Cannot use --log-level "${level}": expected debug, info, warn or error`);
  return level;
}

export function parseNodeArgs(argv: string[], env: Record<string, string | undefined>): NodeConfig {
  const values = parseFlags(argv, {
    id: { type: 'string' },
    port: { type: 'string' },
    data: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    broker: { type: 'string' },
    'embedded-broker': { type: 'boolean' },
    'no-watch': { type: 'boolean' },
    token: { type: 'string' },
    'log-level': { type: 'string' },
    revisions: { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'anti-entropy-ms': { type: 'string' },
  });
  const config: NodeConfig = {
    id: values.id,
    host: values.host ?? '127.0.0.1',
    port: intOption('--port', values.port ?? '7001', 0, 65535),
    dataDir: values.data ?? './data',
    publicUrl: values['public-url'],
    broker: values.broker ?? env.NUVEM_BROKER ?? 'mqtt://127.0.0.1:1883',
    embeddedBroker: values['embedded-broker'] ?? false,
    watch: !values['no-watch'],
    token: values.token ?? (env.NUVEM_TOKEN || undefined),
    logLevel: parseLevel(values['log-level']),
    keepRevisions: intOption('--revisions', values.revisions ?? '10', 1, 10000),
    heartbeatMs: intOption('--heartbeat-ms', values['heartbeat-ms'] ?? '1000', 50, 600000),
    antiEntropyMs: intOption('--anti-entropy-ms', values['anti-entropy-ms'] ?? '30000', 100, 86_400_000),
  };
  if (config.id !== undefined && !NODE_ID.test(config.id)) {
    throw new UsageError(`Cannot use --id "${config.id}": use 1 to 64 of a-z, 0-9, "_" and "-", starting with a letter or digit`);
  }
  checkExposure(config.host, config.token);
  return config;
}

/** Refuses to listen beyond loopback without a token (DESIGN.md section 7.6). */
export function checkExposure(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new UsageError(
      `Refusing to listen on ${host} without a token: anyone who can reach it could read and change every file. ` +
        'Pass --token (or set NUVEM_TOKEN), or bind to 127.0.0.1.',
    );
  }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`Cannot use ${name} "${value}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}
