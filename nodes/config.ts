/**
 * The node's configuration: the one place that reads argv and the environment.
 *
 * Options (`nuvem node …`): the table in node_options.ts, with their
 * meaning and defaults (`nuvem node --help` prints it).
 */
import { DEFAULT_MEMBER_TTL_MS } from './membership.ts';
import { flagSpecs, NODE_OPTIONS, type NodeOptionName } from './node_options.ts';
import { UsageError } from '../protocol/errors.ts';
import { checkExposure, intOption, parseFlags, parseLevel } from '../protocol/flags.ts';
import type { Level } from '../protocol/log.ts';
import type { Reserve } from './disk_space.ts';
import { NODE_ID } from '../protocol/version.ts';

export interface NodeConfig {
  id?: string;
  host: string;
  port: number;
  dataDir: string;
  publicUrl?: string;
  broker: string;
  /** Where browsers reach the broker over WebSocket (the dashboard, functions/dashboard.ts). */
  brokerWs?: string;
  embeddedBroker: boolean;
  watch: boolean;
  /** Start although the files folder or most files are gone (volume.ts); they become tombstones. */
  acceptVanished?: boolean;
  /** Full rescans of the files folder, besides watching it (folder_sync.ts). */
  rescanMs?: number;
  token?: string;
  nodeToken?: string;
  logLevel: Level;
  keepRevisions: number;
  heartbeatMs: number;
  antiEntropyMs: number;
  /** Delay of the batched sync that marks small files' plain files materialised (small_files.ts). */
  materialiseMs?: number;
  /** Members not seen online for this long leave the member list (membership.ts). */
  memberTtlMs?: number;
  /** Free space to keep (disk_space.ts): bytes, or a share of the volume; undefined: the default. */
  reserve?: Reserve;
  /** How long a deleted path stays restorable, in ms (trash.ts). */
  trashMs?: number;
  /** Change-log entries always kept for `/changes` readers (log_prune.ts). */
  changesKeep?: number;
  /** A peer's answer to a log, digest or bucket request must begin within this (peers.ts). */
  peerAnswerMs?: number;
}

export function parseNodeArgs(argv: string[], env: Record<string, string | undefined>): NodeConfig {
  const values = parseFlags(argv, flagSpecs(Object.keys(NODE_OPTIONS) as NodeOptionName[]));
  const config: NodeConfig = {
    id: values.id,
    host: values.host ?? '127.0.0.1',
    port: intOption('--port', values.port ?? '7001', 0, 65535),
    dataDir: values.data ?? './data',
    publicUrl: values['public-url'],
    broker: values.broker ?? env.NUVEM_BROKER ?? 'mqtt://127.0.0.1:1883',
    brokerWs: values['broker-ws'] ?? (env.NUVEM_BROKER_WS || undefined),
    embeddedBroker: values['embedded-broker'] ?? false,
    watch: !values['no-watch'],
    acceptVanished: values['accept-vanished'] ?? false,
    rescanMs: intOption('--rescan-ms', values['rescan-ms'] ?? '600000', 1000, 86_400_000),
    token: values.token ?? (env.NUVEM_TOKEN || undefined),
    nodeToken: values['node-token'] ?? (env.NUVEM_NODE_TOKEN || undefined),
    logLevel: parseLevel(values['log-level']),
    keepRevisions: intOption('--revisions', values.revisions ?? '10', 1, 10000),
    heartbeatMs: intOption('--heartbeat-ms', values['heartbeat-ms'] ?? '1000', 50, 600000),
    antiEntropyMs: intOption('--anti-entropy-ms', values['anti-entropy-ms'] ?? '30000', 100, 86_400_000),
    materialiseMs: intOption('--materialise-ms', values['materialise-ms'] ?? env.NUVEM_MATERIALISE_MS ?? '500', 0, 86_400_000),
    memberTtlMs: intOption('--member-ttl-ms', values['member-ttl-ms'] ?? String(DEFAULT_MEMBER_TTL_MS), 1000, 365 * 86_400_000),
    reserve: values.reserve === undefined ? undefined : parseReserve(values.reserve),
    trashMs: daysOption('--trash-days', values['trash-days'] ?? '30'),
    changesKeep: intOption('--changes-keep', values['changes-keep'] ?? '100000', 1, 1_000_000_000),
    peerAnswerMs: intOption('--peer-answer-ms', values['peer-answer-ms'] ?? '3000', 100, 600_000),
  };
  if (config.id !== undefined && !NODE_ID.test(config.id)) {
    throw new UsageError(`Cannot use --id "${config.id}": use 1 to 64 of a-z, 0-9, "_" and "-", starting with a letter or digit`);
  }
  checkExposure(config.host, config.token);
  if (config.nodeToken !== undefined && (!config.token || config.nodeToken === config.token)) {
    throw new UsageError('Cannot use --node-token without a --token of its own: clients use the token, nodes the node token');
  }
  config.brokerWs = brokerWsUrl(config.broker, config.brokerWs);
  return config;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * `--reserve`: bytes, with an optional K, M, G or T suffix (powers of 1024,
 * `KiB`/`KB` alike), or a percentage of the volume.
 *
 * @example
 * parseReserve('256M') // { bytes: 268435456 }
 * parseReserve('1%')   // { ratio: 0.01 }
 */
export function parseReserve(value: string): Reserve {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (pct && Number(pct[1]) <= 50) return { ratio: Number(pct[1]) / 100 };
  const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(value);
  if (m && !pct) return { bytes: Number(m[1]) * UNITS[m[2].toLowerCase()] };
  throw new UsageError(`Cannot use --reserve "${value}": expected bytes (such as 268435456, 512M or 2G) or a share of the volume up to 50% (such as 1%)`);
}

/** A number of days (fractions allowed, 0 to 36500) as milliseconds. */
function daysOption(name: string, value: string): number {
  const days = Number(value);
  if (value.trim() === '' || !Number.isFinite(days) || days < 0 || days > 36_500) {
    throw new UsageError(`Cannot use ${name} "${value}": expected a number of days from 0 to 36500 (fractions allowed, e.g. 0.5)`);
  }
  return Math.round(days * 86_400_000);
}

/** The WebSocket listener's port when `--broker-ws` is not given: the broker's default (broker/mod.ts). */
const DEFAULT_BROKER_WS_PORT = 8083;

/**
 * `--broker-ws` checked, or derived from `--broker`: the same host, port
 * 8083, path `/mqtt` (what `nuvem broker` and `nuvem up` listen on by default).
 *
 * @example
 * brokerWsUrl('mqtt://10.0.0.5:1883') // 'ws://10.0.0.5:8083/mqtt'
 */
export function brokerWsUrl(broker: string, given?: string): string {
  if (given !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(given);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'ws:' && url.protocol !== 'wss:')) {
      throw new UsageError(`Cannot use --broker-ws "${given}": expected a ws:// or wss:// URL such as ws://127.0.0.1:8083/mqtt`);
    }
    return url.href;
  }
  let host = '127.0.0.1';
  let secure = false;
  try {
    const url = new URL(broker);
    host = url.hostname || host;
    secure = url.protocol === 'mqtts:' || url.protocol === 'ssl:' || url.protocol === 'tls:';
  } catch {
    // a broker URL the MQTT client will complain about; the dashboard guesses loopback
  }
  return `${secure ? 'wss' : 'ws'}://${host}:${DEFAULT_BROKER_WS_PORT}/mqtt`;
}
