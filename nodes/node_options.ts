/**
 * Every option of `nuvem node`, in one table: config.ts parses a node's
 * argv with it, `nuvem up` takes the options marked `up: 'each'` and hands
 * them to every node it starts, and both usage texts are written from it.
 * Pure data and text.
 *
 * `up`: `'each'` — `nuvem up` takes it and passes it on to every node;
 * `'own'` — `nuvem up` has a flag of the same name it uses itself and gives
 * the nodes (`--host`, `--token`, `--log-level`); `'set'` — `nuvem up` sets
 * it per node (`--id`, `--port`, `--data`, the broker's URLs, the node token).
 */
export interface NodeOption {
  type: 'string' | 'boolean';
  /** The value's name in the usage text (strings only). */
  arg?: string;
  help: string;
  up: 'each' | 'own' | 'set';
}

export const NODE_OPTIONS = {
  id: { type: 'string', arg: 'ID', help: 'node id ([a-z0-9_-]; generated and kept in DATA/.nuvem/node-id when absent)', up: 'set' },
  port: { type: 'string', arg: 'P', help: 'HTTP port (0 = any free port; default 7001)', up: 'set' },
  data: { type: 'string', arg: 'DIR', help: 'data folder: files in DIR/files, metadata in DIR/.nuvem (default ./data)', up: 'set' },
  host: { type: 'string', arg: 'H', help: 'address to bind (default 127.0.0.1; anything but loopback needs --token)', up: 'own' },
  'public-url': { type: 'string', arg: 'URL', help: 'URL peers and clients use for this node (default http://HOST:PORT)', up: 'set' },
  broker: { type: 'string', arg: 'URL', help: 'MQTT broker (default $NUVEM_BROKER or mqtt://127.0.0.1:1883)', up: 'set' },
  'broker-ws': { type: 'string', arg: 'URL', help: "the broker's MQTT-over-WebSocket URL, for the dashboard (default $NUVEM_BROKER_WS or ws://BROKER-HOST:8083/mqtt)", up: 'set' },
  'embedded-broker': { type: 'boolean', help: 'run an MQTT broker inside this node, on the --broker port', up: 'set' },
  'no-watch': { type: 'boolean', help: 'do not watch the files folder for edits (no rescans either)', up: 'each' },
  'rescan-ms': { type: 'string', arg: 'N', help: 'interval between full rescans of the files folder (default 600000)', up: 'each' },
  'accept-vanished': { type: 'boolean', help: 'start although the files folder, its marker or most of its files are gone, and record them as deleted', up: 'each' },
  token: { type: 'string', arg: 'T', help: 'bearer token for HTTP and MQTT (default $NUVEM_TOKEN)', up: 'own' },
  'node-token': { type: 'string', arg: 'N', help: "nodes' own secret: broker credential and /internal/ routes; clients keep --token (default $NUVEM_NODE_TOKEN)", up: 'set' },
  'log-level': { type: 'string', arg: 'L', help: 'debug | info | warn | error (default info)', up: 'own' },
  revisions: { type: 'string', arg: 'N', help: 'replaced versions kept per path (default 10)', up: 'each' },
  'heartbeat-ms': { type: 'string', arg: 'N', help: 'status heartbeat interval (default 1000)', up: 'each' },
  'anti-entropy-ms': { type: 'string', arg: 'N', help: 'interval between anti-entropy passes (default 30000; one runs at start)', up: 'each' },
  'materialise-ms': { type: 'string', arg: 'N', help: "how long small files' plain files wait for their batched sync (default 500; $NUVEM_MATERIALISE_MS)", up: 'each' },
  'member-ttl-ms': { type: 'string', arg: 'N', help: 'a member not seen online for this long leaves the member list (default 86400000, 24 h)', up: 'each' },
  reserve: { type: 'string', arg: 'SIZE', help: 'free space kept on the volume, uploads get 507 below it: bytes (512M, 2G) or a share (1%) (default 1 % or 256 MiB, whichever is smaller)', up: 'each' },
  'trash-days': { type: 'string', arg: 'D', help: 'how long a deleted file stays restorable, in days, fractions allowed (default 30; 0: no trash)', up: 'each' },
  'changes-keep': { type: 'string', arg: 'N', help: 'change-log entries kept for /changes readers below what every member applied (default 100000)', up: 'each' },
  'peer-answer-ms': { type: 'string', arg: 'N', help: "a peer's answer to a catch-up or digest request must begin within this (default 3000)", up: 'each' },
} as const satisfies Record<string, NodeOption>;

export type NodeOptionName = keyof typeof NODE_OPTIONS;

/** The names of the options `nuvem up` passes on to every node. */
export type UpNodeOptionName = { [K in NodeOptionName]: (typeof NODE_OPTIONS)[K]['up'] extends 'each' ? K : never }[NodeOptionName];

/** The options `nuvem up` passes on to every node. */
export const UP_NODE_OPTIONS = (Object.keys(NODE_OPTIONS) as NodeOptionName[]).filter((n): n is UpNodeOptionName => NODE_OPTIONS[n].up === 'each');

/** `names` as `parseArgs` options (type only). */
export function flagSpecs<N extends NodeOptionName>(names: readonly N[]): { [K in N]: { type: (typeof NODE_OPTIONS)[K]['type'] } } {
  return Object.fromEntries(names.map((n) => [n, { type: NODE_OPTIONS[n].type }])) as { [K in N]: { type: (typeof NODE_OPTIONS)[K]['type'] } };
}

/** Usage lines for `names` (and `more` rows: flag, help): `  --flag ARG   help`, aligned. */
export function optionLines(names: readonly NodeOptionName[], more: [string, string][] = []): string {
  const rows: [string, string][] = [
    ...names.map((n): [string, string] => {
      const o: NodeOption = NODE_OPTIONS[n];
      return [`  --${n}${o.arg ? ` ${o.arg}` : ''}`, o.help];
    }),
    ...more.map(([flag, help]): [string, string] => [`  ${flag}`, help]),
  ];
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, help]) => `${l.padEnd(width)}${help}\n`).join('');
}

export const NODE_USAGE = `Usage: nuvem node --port P --data DIR [options]

  A storage node: HTTP on --port, files in DATA/files, replication over the
  MQTT broker. Logs are JSON lines on stdout; SIGINT or SIGTERM stops it.

Options:
${optionLines(Object.keys(NODE_OPTIONS) as NodeOptionName[], [['--help', 'this text']])}`;

/** Does `argv` ask for the usage text (`--help` or `-h`)? */
export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
