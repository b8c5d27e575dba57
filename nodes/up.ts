/**
 * `nuvem up` (DESIGN.md section 5): the embedded default cluster on one
 * machine. The MQTT broker runs in this process; each node is a child process
 * (node_child.ts) with its data under DATA/node-K and HTTP on BASE+K-1.
 * Ctrl-C (SIGINT to this process or its process group) or SIGTERM stops every
 * node, then the broker, and exits 0 with every port free.
 *
 * Options:
 *   --nodes N        how many nodes (1 to 16; default 3)
 *   --data DIR       data folder: node K keeps its files in DIR/node-K (default ./data)
 *   --base-port P    node K listens on P+K-1 (default 7001)
 *   --mqtt-port P    the broker's MQTT port (default 1883; 0 = any free port)
 *   --ws-port P      the broker's MQTT-over-WebSocket port, for the dashboard (default 8083; 0 = any free port)
 *   --host H         address everything binds (default 127.0.0.1; anything but loopback needs --token)
 *   --token T        nodes' token for HTTP and MQTT (default $NUVEM_TOKEN)
 *   --log-level L    debug | info | warn | error (default info), for the broker and every node
 *   and every node option marked `up: 'each'` in node_options.ts (--trash-days,
 *   --changes-keep, --reserve, --member-ttl-ms, …), passed on to every node
 *
 * Output: every line on stdout is a JSON log line; a node's lines carry
 * `"proc":"node-K"`, this launcher's `"proc":"up"`. Once all nodes listen, a
 * `"msg":"cluster ready"` line lists the URLs, and a short summary goes to stderr.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_MQTT_PORT, DEFAULT_WS_PORT, startBroker, type RunningBroker } from '../broker/mod.ts';
import { createLog, type Level, type Log } from '../protocol/log.ts';
import { nodeEntry, NodeStartError, spawnNodeChild, type NodeChild } from './node_child.ts';
import { checkExposure, parseFlags, parseLevel } from '../protocol/flags.ts';
import { UsageError } from '../protocol/errors.ts';
import { parseNodeArgs } from './config.ts';
import { flagSpecs, optionLines, UP_NODE_OPTIONS } from './node_options.ts';

export const MAX_NODES = 16;
/** A node gets this long to stop after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 4000;
const START_TIMEOUT_MS = 30_000;
/** A second signal this soon after the first is the same Ctrl-C arriving twice (terminal and npm). */
const REPEAT_SIGNAL_MS = 1000;

export const UP_USAGE = `Usage: nuvem up [--nodes 3] [--data ./data] [--base-port 7001] [--mqtt-port 1883] [--ws-port 8083]
                [--host 127.0.0.1] [--token T] [--log-level info]

  The MQTT broker and N storage nodes on this machine: node K is node-K on
  port BASE+K-1 with its data in DATA/node-K. Logs are JSON lines on stdout.
  Ctrl-C (or SIGTERM) stops every node and the broker.

Flags:
  --nodes N        how many nodes (1 to ${MAX_NODES})
  --data DIR       data folder for all nodes
  --base-port P    node K listens on P+K-1
  --mqtt-port P    the broker's MQTT port (0 = any free port)
  --ws-port P      the broker's MQTT-over-WebSocket port, for the dashboard (0 = any free port)
  --host H         address to bind (anything but loopback needs --token)
  --token T        token for HTTP and MQTT (env NUVEM_TOKEN)
  --log-level L    debug, info, warn or error

Node options, passed on to every node (as for nuvem node):
${optionLines(UP_NODE_OPTIONS)}`;

export interface UpConfig {
  nodes: number;
  dataDir: string;
  basePort: number;
  mqttPort: number;
  wsPort: number;
  host: string;
  token?: string;
  logLevel: Level;
  /** Node options given to `up`, passed on to every node as they were given (node_options.ts). */
  nodeArgs: string[];
}

export function parseUpArgs(argv: string[], env: Record<string, string | undefined>): UpConfig {
  const values = parseFlags(argv, {
    nodes: { type: 'string' },
    data: { type: 'string' },
    'base-port': { type: 'string' },
    'mqtt-port': { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    token: { type: 'string' },
    'log-level': { type: 'string' },
    ...flagSpecs(UP_NODE_OPTIONS),
  });
  const nodes = intOption('--nodes', values.nodes ?? '3', 1, MAX_NODES);
  const basePort = intOption('--base-port', values['base-port'] ?? '7001', 1, 65536 - nodes);
  const config: UpConfig = {
    nodes,
    dataDir: values.data ?? './data',
    basePort,
    mqttPort: intOption('--mqtt-port', values['mqtt-port'] ?? String(DEFAULT_MQTT_PORT), 0, 65535),
    wsPort: intOption('--ws-port', values['ws-port'] ?? String(DEFAULT_WS_PORT), 0, 65535),
    host: values.host ?? '127.0.0.1',
    token: values.token ?? (env.NUVEM_TOKEN || undefined),
    logLevel: 'info',
    nodeArgs: nodeArgsOf(values),
  };
  // Checked here, as each node would check them, so a bad value stops the start before anything runs.
  parseNodeArgs(['--port', '0', '--data', '.', ...config.nodeArgs], env);
  if (values.token === '') throw new UsageError('Cannot use an empty --token');
  if (values.data === '') throw new UsageError('Cannot use an empty --data');
  const level = parseLevel(values['log-level']);
  config.logLevel = level;
  const last = basePort + nodes - 1;
  for (const [flag, port] of [['--mqtt-port', config.mqttPort], ['--ws-port', config.wsPort]] as const) {
    if (port >= basePort && port <= last) {
      throw new UsageError(`Cannot use ${flag} ${port}: the nodes use ports ${basePort} to ${last} (--base-port ${basePort}, --nodes ${nodes})`);
    }
  }
  if (config.mqttPort !== 0 && config.mqttPort === config.wsPort) throw new UsageError(`Cannot use port ${config.wsPort} for both --mqtt-port and --ws-port`);
  checkExposure(config.host, config.token);
  return config;
}

/** The node options among `values`, as flags again (`--trash-days 7`, `--no-watch`). */
function nodeArgsOf(values: Record<string, string | boolean | undefined>): string[] {
  const args: string[] = [];
  for (const name of UP_NODE_OPTIONS) {
    const v = values[name];
    if (v === undefined || v === false) continue;
    args.push(`--${name}`, ...(typeof v === 'string' ? [v] : []));
  }
  return args;
}

/** What is running; `stop()` takes it all down, nodes first so they can say "offline" on the broker. */
class Cluster {
  broker: RunningBroker | undefined;
  readonly children: NodeChild[] = [];
  private stopping: Promise<void> | undefined;

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      await Promise.all(this.children.map((child) => child.stop(STOP_GRACE_MS)));
      await this.broker?.close();
    })());
  }

  /** A second Ctrl-C: no more waiting for the nodes. */
  killNodes(): void {
    for (const child of this.children) child.kill();
  }
}

/**
 * Starts the broker and the nodes; resolves once every node listens, leaving
 * them running until a signal. Throws (with everything stopped again) when
 * something cannot start.
 *
 * @example
 * await runUp(['--nodes', '3', '--data', './data']);
 */
export async function runUp(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(UP_USAGE);
    return;
  }
  const config = parseUpArgs(argv, process.env);
  const baseLog = createLog({ level: config.logLevel });
  const log: Log = (level, msg, fields) => baseLog(level, msg, { proc: 'up', ...fields });
  process.stdout.on('error', () => {}); // a closed pipe on stdout must not take the nodes' supervisor down
  const cluster = new Cluster();

  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt) {
      if (Date.now() - firstSignalAt > REPEAT_SIGNAL_MS) cluster.killNodes();
      return;
    }
    firstSignalAt = Date.now();
    log('info', 'stopping', { signal });
    cluster.stop().then(
      () => {
        log('info', 'stopped');
        exitAfterFlush(0);
      },
      (err) => {
        log('error', 'could not stop cleanly', { error: (err as Error).message });
        exitAfterFlush(1);
      },
    );
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  try {
    await startCluster(cluster, config, log);
  } catch (err) {
    if (cluster.isStopping) return; // a signal came during the start: its handler finishes and exits
    for (const s of signals) process.off(s, onSignal);
    await cluster.stop();
    throw err;
  }
  if (cluster.isStopping) return;
  for (const child of cluster.children) {
    void child.exited.then((how) => {
      if (cluster.isStopping) return;
      const left = cluster.children.filter((c) => c.isRunning()).length;
      log('warn', 'node exited; the others keep running', { node: child.name, code: how.code, signal: how.signal, running: left, stderr: child.stderr() || undefined });
    });
  }
}

async function startCluster(cluster: Cluster, config: UpConfig, log: Log): Promise<void> {
  // With a token, the nodes get a secret of their own that no client holds: clients
  // (the CLI, dashboards) keep the token and may only subscribe (broker/auth.ts).
  const nodeToken = config.token ? randomBytes(32).toString('base64url') : undefined;
  try {
    cluster.broker = await startBroker({ host: config.host, port: config.mqttPort, wsPort: config.wsPort, token: config.token, nodeToken, log });
  } catch (err) {
    // The broker names its own flags; here they are --mqtt-port and --ws-port.
    if (!(err instanceof Error) || !/with --port$/.test(err.message)) throw err;
    throw new Error(err.message.replace(/with --port$/, 'with --mqtt-port'));
  }
  const broker = cluster.broker;
  const brokerHost = isWildcard(config.host) ? '127.0.0.1' : config.host;
  const urlHost = brokerHost.includes(':') ? `[${brokerHost}]` : brokerHost;
  const brokerUrl = `mqtt://${urlHost}:${broker.port}`;
  // The dashboard's browsers reach the broker here (nodes serve it in /dashboard/config.json).
  const brokerWs = `ws://${urlHost}:${broker.wsPort}/mqtt`;
  log('info', 'broker listening', { mqtt: broker.mqttUrl, ws: broker.wsUrl });

  const entry = await nodeEntry();
  if (cluster.isStopping) throw new Error('stopped while starting');
  // The token travels in the environment, not on command lines anyone can read with ps.
  const env = { ...process.env, NUVEM_TOKEN: config.token ?? '', NUVEM_NODE_TOKEN: nodeToken ?? '' };
  for (let k = 1; k <= config.nodes; k++) {
    const name = `node-${k}`;
    const args = [
      '--id', name,
      '--port', String(config.basePort + k - 1),
      '--data', join(config.dataDir, name),
      '--broker', brokerUrl,
      '--broker-ws', brokerWs,
      '--host', config.host,
      '--log-level', config.logLevel,
      ...config.nodeArgs,
    ];
    cluster.children.push(spawnNodeChild({ name, entry, args, env }));
  }
  log('debug', 'nodes starting', { nodes: config.nodes, bundled: entry.bundled });

  const urls = await waitReady(cluster.children, config, START_TIMEOUT_MS);
  const nodes = cluster.children.map((child, i) => ({ id: child.name, url: urls[i] }));
  const dashboard = `${urls[0]}/`;
  log('info', 'cluster ready', { nodes, mqtt: broker.mqttUrl, ws: broker.wsUrl, dashboard, data: config.dataDir });
  process.stderr.write(summary({ nodes, mqtt: broker.mqttUrl, ws: broker.wsUrl, dashboard, dataDir: config.dataDir }));
}

/** Every node's URL, in order; the first node that fails (or the timeout) fails the start. */
async function waitReady(children: NodeChild[], config: UpConfig, timeoutMs: number): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const late = children.filter((c) => c.isRunning());
      const said = late.map((c) => (c.stderr() ? `${c.name}:\n${c.stderr()}` : '')).filter(Boolean).join('\n');
      reject(new Error(`${late.map((c) => c.name).join(', ')} did not start within ${timeoutMs / 1000} s${said ? `:\n${said}` : ''}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      Promise.all(
        children.map((child, i) =>
          child.ready.catch((err) => {
            throw startFailure(err, child.name, config.basePort + i, config.host);
          }),
        ),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A node that could not start, said in `up`'s terms (its --port is our --base-port). */
function startFailure(err: unknown, name: string, port: number, host: string): Error {
  if (!(err instanceof NodeStartError)) return err as Error;
  if (/already in use/.test(err.message)) {
    return new Error(`Port ${port} on ${host} (for ${name}) is already in use; choose another with --base-port (node K listens on --base-port + K - 1)`);
  }
  if (/Not allowed to listen|EACCES/.test(err.message)) {
    return new Error(`Not allowed to listen on port ${port} on ${host} (for ${name}); choose another with --base-port`);
  }
  const message = err.message.replace(/^nuvem node: /gm, '');
  return new Error(`${name} could not start (exit ${err.exit.code ?? err.exit.signal}):\n${message}`);
}

function summary(info: { nodes: { id: string; url: string }[]; mqtt: string; ws: string | undefined; dashboard: string; dataDir: string }): string {
  const rows: [string, string][] = [
    ...info.nodes.map((n): [string, string] => [n.id, n.url]),
    ['mqtt', info.mqtt],
    ...(info.ws ? [['websocket', info.ws] as [string, string]] : []),
    ['dashboard', info.dashboard],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `Nuvem is up: ${info.nodes.length} node${info.nodes.length === 1 ? '' : 's'} and a broker (data in ${join(info.dataDir, 'node-K')})`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`Cannot use ${name} "${value}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}

function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
