/**
 * Usage text of the `nuvem` command line. Pure.
 */
import { COMMANDS, isCommand, type CommandName, type CommandSpec } from './cli_args.ts';

const GLOBAL_HELP = `Global flags:
  --nodes URL[,URL…]  nodes to talk to (env NUVEM_NODES); without it the nodes are
                      found through the broker
  --broker URL        MQTT broker the nodes announce themselves on (env NUVEM_BROKER,
                      default mqtt://127.0.0.1:1883)
  --prefer NODE       send requests to this node (id or URL) first while it can serve
                      them; the others stay there for failover (sync: bind to a node)
  --token T           bearer token, also the broker password (env NUVEM_TOKEN)
  --json              machine output: one JSON document on stdout (watch: one per line)
  -v, --verbose       say which node served each request, and every failover
                      (sync: also its debug lines, with timings)
  -h, --help          show help`;

function optionsHelp(spec: CommandSpec): string[] {
  const flags = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' VALUE' : ''}`;
    return [flag, o.help ?? ''];
  });
  const width = Math.max(...flags.map(([f]) => f.length));
  return flags.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`.trimEnd());
}

export function commandLine(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const flags = Object.entries(spec.options).map(([n, o]) => `[${o.short ? `-${o.short}|` : ''}--${n}${o.type === 'string' ? ' VALUE' : ''}]`);
  return ['nuvem', name, ...spec.args, ...flags].join(' ');
}

/** What follows a usage error: the command's synopsis, or the full usage. */
export function usageHint(command?: string): string {
  if (!command || !isCommand(command)) return usage();
  return `Usage: ${commandLine(command)}\nRun "nuvem help ${command}" for details.\n`;
}

/** The help for one command, or for all of them. */
export function usage(command?: CommandName): string {
  if (command) {
    const spec: CommandSpec = COMMANDS[command];
    const lines = [`Usage: ${commandLine(command)}`, '', `  ${spec.summary}`];
    const opts = optionsHelp(spec);
    if (opts.length) lines.push('', 'Flags:', ...opts);
    return [...lines, '', GLOBAL_HELP, ''].join('\n');
  }
  const names = Object.keys(COMMANDS) as CommandName[];
  const short = (n: CommandName) => ['nuvem', n, ...COMMANDS[n].args].join(' ');
  const width = Math.max(...names.map((n) => short(n).length));
  return [
    'Usage: nuvem <command> [flags]',
    '',
    'Files:',
    ...names.map((n) => `  ${short(n).padEnd(width)}  ${COMMANDS[n].summary}`),
    '',
    'Servers:',
    '  nuvem node --port P --data DIR [...]   run a storage node (flags: --id --host --public-url --broker',
    '                                         --embedded-broker --no-watch --token --log-level)',
    '  nuvem up [--nodes 3] [--data ./data] [--base-port 7001] [--mqtt-port 1883] [--ws-port 8083]',
    '                                         a broker and N nodes on this machine; node K on port',
    '                                         BASE+K-1 with data in DATA/node-K; Ctrl-C stops all',
    '                                         (also --host --token --log-level)',
    '  nuvem broker [--port 1883] [--ws-port 8083] [--host H] [--token T] [--read-token R]',
    '                                         the MQTT broker alone (TCP, and WebSocket at /mqtt)',
    '',
    GLOBAL_HELP,
    '',
    'Run "nuvem help COMMAND" for its flags.',
    'Exit codes: 0 ok, 1 failure, 2 usage error (status: 0 even while some nodes are offline).',
    '',
  ].join('\n');
}
