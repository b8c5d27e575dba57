/**
 * The `nuvem` command line grammar: commands, their arguments and flags.
 * Pure: no I/O; argv and the environment are passed in.
 *
 * @example
 * parseCli(['--nodes', 'http://127.0.0.1:7001', 'ls', '-r', 'photos'])
 * // { kind: 'command', command: 'ls', args: ['photos'], options: { recursive: true },
 * //   global: { nodes: 'http://127.0.0.1:7001', json: false, verbose: false } }
 * resolveConnection({ json: false, verbose: false }, {})
 * // { broker: 'mqtt://127.0.0.1:1883' }
 */
import { parseArgs } from 'node:util';
import { parseNodeList } from './paths.ts';
import { UsageError } from '../protocol/errors.ts';

type OptionSpec = { type: 'boolean' | 'string'; short?: string; help?: string };

/** Flags every client command takes. */
const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  nodes: { type: 'string' },
  broker: { type: 'string' },
  prefer: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
};

export interface CommandSpec {
  /** Argument names for the usage line; `[X]` is optional. */
  args: string[];
  options: Record<string, OptionSpec>;
  summary: string;
}

export const COMMANDS = {
  put: {
    args: ['LOCAL', '[REMOTE]'],
    options: {
      'content-type': { type: 'string', help: 'Content-Type to store (default: guessed from the name)' },
      'if-match': { type: 'string', help: 'replace only if the current version is this one' },
      'no-overwrite': { type: 'boolean', help: 'fail if the file already exists' },
    },
    summary: 'upload a file (LOCAL "-" reads stdin; REMOTE ending in "/" means into that folder)',
  },
  get: {
    args: ['REMOTE', '[LOCAL|-]'],
    options: { version: { type: 'string', help: 'read a kept revision (see nuvem revisions)' } },
    summary: 'download a file ("-" writes to stdout)',
  },
  rm: {
    args: ['REMOTE'],
    options: {
      recursive: { type: 'boolean', short: 'r', help: 'delete a folder and everything in it' },
      purge: { type: 'boolean', help: 'erase for good, now, on every node: no trash, no kept versions' },
    },
    summary: 'delete a file, or a folder with -r (it stays in the trash; --purge erases it)',
  },
  mv: { args: ['FROM', 'TO'], options: { 'no-overwrite': { type: 'boolean', help: 'fail if TO already exists' } }, summary: 'move or rename a file or folder' },
  mkdir: { args: ['REMOTE'], options: {}, summary: 'create a folder' },
  ls: { args: ['[FOLDER]'], options: { recursive: { type: 'boolean', short: 'r', help: 'list everything below FOLDER' } }, summary: 'list a folder (-r: with everything below it)' },
  stat: { args: ['REMOTE'], options: {}, summary: "show a file's or folder's record" },
  revisions: { args: ['REMOTE'], options: {}, summary: 'list the kept earlier versions of a file' },
  trash: {
    args: ['ls|restore', '[PATH]'],
    options: { version: { type: 'string', help: 'restore: bring back this kept version (see nuvem revisions)' } },
    summary: 'trash ls [FOLDER]: deleted files still restorable; trash restore PATH: bring a file or folder back',
  },
  status: { args: [], options: {}, summary: 'show every node: state, heartbeat age, lag, latency, files, disk' },
  members: {
    args: ['[forget]', '[ID]'],
    options: {},
    summary: 'list the members a node knows; "members forget ID" makes the nodes forget one gone for good (refused while it is online)',
  },
  watch: { args: ['[FOLDER]'], options: {}, summary: 'print changes as they happen, one line each (with --json: JSON lines)' },
  sync: {
    args: ['DIR'],
    options: {
      remote: { type: 'string', help: 'the remote folder to mirror (default: the root)' },
      once: { type: 'boolean', help: 'reconcile once and exit: 0 when in sync, 1 when something could not be synced' },
    },
    summary: 'mirror a local folder with the cluster both ways, live until Ctrl-C (state in DIR/.nuvem-sync/)',
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** Commands handed whole to other parts of Nuvem (the node runtime, `up`, the broker). */
export const PASSTHROUGH = ['node', 'up', 'broker'] as const;
export type PassthroughName = (typeof PASSTHROUGH)[number];

export interface GlobalFlags {
  nodes?: string;
  broker?: string;
  /** A node (id or URL) to send requests to first while it can serve them. */
  prefer?: string;
  token?: string;
  json: boolean;
  verbose: boolean;
}

export type ParsedCli =
  | { kind: 'help'; command?: CommandName }
  | { kind: 'passthrough'; command: PassthroughName; argv: string[] }
  | { kind: 'command'; command: CommandName; args: string[]; options: Record<string, string | boolean>; global: GlobalFlags };

export { UsageError };

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** Index of the command word: the first argument that is neither a global flag nor its value. */
function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (arg === '--nodes' || arg === '--token' || arg === '--broker' || arg === '--prefer') i++;
    else if (!arg.startsWith('-') || arg === '-') return i;
  }
  return -1;
}

/** Node's parseArgs messages go on to explain `--`; the first sentence is the point. */
function firstSentence(message: string): string {
  const end = message.indexOf('. ');
  return end < 0 ? message : message.slice(0, end);
}

export function parseCli(argv: string[]): ParsedCli {
  const at = commandIndex(argv);
  const rest = at < 0 ? argv : [...argv.slice(0, at), ...argv.slice(at + 1)];
  const name = at < 0 ? undefined : argv[at];

  if (name !== undefined && (PASSTHROUGH as readonly string[]).includes(name)) {
    return { kind: 'passthrough', command: name as PassthroughName, argv: rest };
  }
  if (name === 'help') {
    const topic = rest.find((a) => !a.startsWith('-'));
    if (topic !== undefined && !isCommand(topic)) throw new UsageError(`Unknown command "${topic}"`);
    return { kind: 'help', command: topic as CommandName | undefined };
  }
  if (name === undefined) {
    if (argv.includes('-h') || argv.includes('--help')) return { kind: 'help' };
    throw new UsageError('Missing a command');
  }
  if (!isCommand(name)) throw new UsageError(`Unknown command "${name}"`);

  const spec: CommandSpec = COMMANDS[name];
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...spec.options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(firstSentence((err as Error).message), { command: name });
  }
  const { help, nodes, broker, prefer, token, json, verbose, ...options } = parsed.values;
  if (help) return { kind: 'help', command: name };

  const required = spec.args.filter((a) => !a.startsWith('[')).length;
  const args = parsed.positionals;
  if (args.length < required) throw new UsageError(`${name}: missing ${spec.args[args.length]}`, { command: name });
  if (args.length > spec.args.length) {
    throw new UsageError(`${name}: unexpected argument "${args[spec.args.length]}"`, { command: name });
  }
  return {
    kind: 'command',
    command: name,
    args,
    options: options as Record<string, string | boolean>,
    global: {
      nodes: nodes as string | undefined,
      ...(broker === undefined ? {} : { broker: broker as string }),
      ...(prefer === undefined ? {} : { prefer: prefer as string }),
      token: token as string | undefined,
      json: json === true,
      verbose: verbose === true,
    },
  };
}

export const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

export type Connection = ({ nodes: string[]; broker?: undefined } | { broker: string; nodes?: undefined }) & { token?: string; prefer?: string };

/**
 * Where to connect: node URLs (`--nodes`) or the broker to discover them
 * from (`--broker`); flags first, then `NUVEM_NODES`, then `NUVEM_BROKER`,
 * then the broker at mqtt://127.0.0.1:1883. The token: `--token`, else `NUVEM_TOKEN`.
 * `--prefer NODE` (an id or URL) goes with either: that node first while it
 * can serve, the others for failover (a `nuvem sync` bound to one node).
 */
export function resolveConnection(global: GlobalFlags, env: Record<string, string | undefined>): Connection {
  const token = global.token ?? env.NUVEM_TOKEN;
  const prefer = global.prefer?.trim();
  if (global.prefer !== undefined && !prefer) throw new UsageError('--prefer needs a node id or URL');
  const withToken = <T extends object>(c: T) => ({ ...c, ...(token ? { token } : {}), ...(prefer ? { prefer } : {}) });
  const list = global.nodes ?? (global.broker === undefined ? env.NUVEM_NODES : undefined);
  if (list !== undefined && list.trim() !== '') {
    let nodes: string[];
    try {
      nodes = parseNodeList(list);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (nodes.length > 0) return withToken({ nodes });
  }
  if (global.nodes !== undefined) throw new UsageError('No nodes to talk to: --nodes needs URL[,URL…]');
  const broker = (global.broker ?? env.NUVEM_BROKER ?? '').trim() || DEFAULT_BROKER;
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/[^/]/.test(broker)) {
    throw new UsageError(`Cannot use broker "${broker}": expected a URL like ${DEFAULT_BROKER}`);
  }
  return withToken({ broker });
}
