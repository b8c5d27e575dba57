/**
 * The `nuvem` command line (DESIGN.md section 5), the entry of the built CLI
 * (`npm run build` → dist/nuvem.cjs, run by bin/nuvem.js).
 *
 *   nuvem put ./report.pdf docs/ --nodes http://127.0.0.1:7001
 *
 * Exit codes: 0 ok, 1 failure (server error, not found, network), 2 usage.
 * Human errors go to stderr as `nuvem: <message>`; with `--json` the answer
 * (or the error) is one JSON document on stdout.
 *
 * Only the grammar and the usage text load up front: a command loads the
 * client library (cli_run.ts), `node`, `up` and `broker` their servers, when
 * they run, so `nuvem --help` and usage errors start in about the time of an
 * empty `node -e 0`.
 */
import process from 'node:process';
import { parseCli, UsageError, type ParsedCli } from './cli_args.ts';
import { usage, usageHint } from './cli_usage.ts';
import { terminalSafe } from '../protocol/errors.ts';

/** A line for a person; the full wording (client errors, file system codes) is in cli_errors.ts. */
async function describe(err: unknown): Promise<string> {
  return (await import('./cli_errors.ts')).describeError(err);
}

/**
 * `nuvem node …` runs a storage node in a child process started like the
 * nodes of `nuvem up` (node_launch.ts); `nuvem broker …` the MQTT broker and
 * `nuvem up …` a broker and N nodes, in this process.
 */
async function runPassthrough(parsed: Extract<ParsedCli, { kind: 'passthrough' }>): Promise<number | undefined> {
  if (parsed.command === 'node') return (await import('../nodes/node_launch.ts')).launchNode(parsed.argv);
  const load = {
    broker: async () => (await import('../broker/main.ts')).runBroker,
    up: async () => (await import('../nodes/up.ts')).runUp,
  } satisfies Record<Exclude<typeof parsed.command, 'node'>, () => Promise<(argv: string[]) => Promise<void>>>;
  const run = await load[parsed.command]();
  try {
    await run(parsed.argv);
  } catch (err) {
    // Their own usage errors (bad flags) exit 2 like ours.
    const usageMistake = err instanceof UsageError;
    process.stderr.write(terminalSafe(`nuvem ${parsed.command}: ${await describe(err)}`) + '\n');
    return usageMistake ? 2 : 1;
  }
  return undefined;
}

/** Runs the CLI; resolves to the exit code, or undefined when a server keeps running. */
export async function main(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number | undefined> {
  let parsed: ParsedCli | undefined;
  try {
    parsed = parseCli(argv);
    if (parsed.kind === 'help') {
      process.stdout.write(usage(parsed.command));
      return 0;
    }
    if (parsed.kind === 'passthrough') return await runPassthrough(parsed);
    return await (await import('./cli_run.ts')).runCommand(parsed, env);
  } catch (err) {
    if (err instanceof UsageError) {
      const command = err.command ?? (parsed?.kind === 'command' ? parsed.command : undefined);
      process.stderr.write(`${terminalSafe(`nuvem: ${err.message}`)}\n${usageHint(command)}`);
      return 2;
    }
    process.stderr.write(terminalSafe(`nuvem: ${await describe(err)}`) + '\n');
    return 1;
  }
}

/** Exits once stdout and stderr are flushed, without waiting for idle keep-alive sockets to close. */
function exitAfterFlush(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

// No top-level await: the built CLI is a CommonJS bundle.
void main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) exitAfterFlush(code);
});
