/**
 * Node.js entry point of a storage node: `tsx nodes/main.ts --port P --data DIR …`
 * (also `nuvem node …`). See config.ts for the options. With `--embedded-broker`
 * the node also runs the MQTT broker (broker/mod.ts, TCP only) on the port of
 * its `--broker` URL, started before the node and closed after it.
 */
import './process_settings.ts';
import { pathToFileURL } from 'node:url';
import { startBroker, type RunningBroker } from '../broker/mod.ts';
import { parseNodeArgs, type NodeConfig } from './config.ts';
import { NODE_USAGE, wantsHelp } from './node_options.ts';
import { nodeRuntime } from './http_node.ts';
import { createLog } from '../protocol/log.ts';
import { startNode } from './mod.ts';
import { UsageError } from '../protocol/errors.ts';

/** Runs a node until SIGINT or SIGTERM. */
export async function runNode(argv: string[]): Promise<void> {
  if (wantsHelp(argv)) {
    process.stdout.write(NODE_USAGE);
    return;
  }
  const config = parseNodeArgs(argv, process.env);
  const broker = config.embeddedBroker ? await startEmbeddedBroker(config) : undefined;
  let node;
  try {
    // With --broker mqtt://…:0 the broker picks the port; the node connects to that one.
    node = await startNode(broker ? { ...config, broker: broker.mqttUrl } : config, nodeRuntime());
  } catch (err) {
    await broker?.close();
    throw err;
  }
  const running = node;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running
      .stop()
      .then(() => broker?.close())
      .then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Started by `nuvem node` (node_launch.ts) with an IPC channel: when that
  // process is gone, even killed with -9, the channel closes and the node stops.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', stop);
  }
}

/** The broker on the host and port of `--broker` (default mqtt://127.0.0.1:1883), without WebSocket. */
async function startEmbeddedBroker(config: NodeConfig): Promise<RunningBroker> {
  let url: URL;
  try {
    url = new URL(config.broker);
  } catch {
    throw new UsageError(`Cannot parse --broker "${config.broker}" as a URL`);
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') {
    throw new UsageError(`Cannot run an embedded broker at ${config.broker}: --embedded-broker needs an mqtt:// --broker URL`);
  }
  const log = createLog({ level: config.logLevel });
  const broker = await startBroker({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 1883,
    wsPort: false,
    token: config.token,
    log,
  }).catch((err: Error) => {
    // The broker's port comes from --broker here; a node's --port is its HTTP port.
    if (!/choose another with --port$/.test(err.message)) throw err;
    throw new Error(err.message.replace(/with --port$/, 'port in --broker'));
  });
  log('info', 'broker listening', { mqtt: broker.mqttUrl });
  return broker;
}

/** Runs a node from the command line: exits 2 on a usage error, 1 on any other failure. */
export function main(argv: string[]): void {
  runNode(argv).catch((err) => {
    console.error(`nuvem node: ${err instanceof Error ? err.message : err}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}

// Under tsx (`node --import tsx nodes/main.ts`); the bundle starts from bundle_entry.ts.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
