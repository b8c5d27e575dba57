/**
 * The `nuvem` command line (DESIGN.md section 5).
 *
 *   tsx client/cli.ts put ./report.pdf docs/ --nodes http://127.0.0.1:7001
 *
 * Exit codes: 0 ok, 1 failure (server error, not found, network), 2 usage.
 * Human errors go to stderr as `nuvem: <message>`; with `--json` the answer
 * (or the error) is one JSON document on stdout.
 */
import process from 'node:process';
import { parseCli, resolveConnection, UsageError, type ParsedCli } from './cli_args.ts';
import { RUNNERS, type CommandContext } from './cli_commands.ts';
import { usage, usageHint } from './cli_usage.ts';
import { describeError, errorJson, hintFor } from './cli_errors.ts';
import { BrokenPipeError } from './local_files.ts';
import { createClient } from './mod.ts';
import type { FailoverInfo, ResponseInfo } from './types.ts';
import { terminalSafe } from '../protocol/errors.ts';

/** `nuvem node …` runs a storage node, `nuvem broker …` the MQTT broker, `nuvem up …` a broker and N nodes. */
async function runPassthrough(parsed: Extract<ParsedCli, { kind: 'passthrough' }>): Promise<number | undefined> {
  const load = {
    node: async () => (await import('../nodes/main.ts')).runNode,
    broker: async () => (await import('../broker/main.ts')).runBroker,
    up: async () => (await import('../nodes/up.ts')).runUp,
  } satisfies Record<typeof parsed.command, () => Promise<(argv: string[]) => Promise<void>>>;
  const run = await load[parsed.command]();
  try {
    await run(parsed.argv);
  } catch (err) {
    // Their own usage errors (bad flags) exit 2 like ours.
    const usageMistake = err instanceof UsageError;
    process.stderr.write(terminalSafe(`nuvem ${parsed.command}: ${describeError(err)}`) + '\n');
    return usageMistake ? 2 : 1;
  }
  return undefined;
}

function verboseLine(info: ResponseInfo): string {
  const served = info.nodeId ? `node ${info.nodeId} (${info.node})` : info.node;
  return `nuvem: ${info.method} ${info.url} -> ${info.status}, served by ${served}\n`;
}

function failoverLine(info: FailoverInfo): string {
  const what = info.resumeAt === undefined ? 'trying the next node' : `resuming from byte ${info.resumeAt} at another node`;
  return `nuvem: ${info.method} ${info.path} failed at node ${info.nodeId} (${info.node}): ${info.reason}; ${what}\n`;
}

/** Runs a client command; Ctrl-C or SIGTERM aborts it cleanly (no partial download left). */
async function runCommand(parsed: Extract<ParsedCli, { kind: 'command' }>, env: Record<string, string | undefined>): Promise<number> {
  const connection = resolveConnection(parsed.global, env);
  const verbose = parsed.global.verbose;
  const client = createClient({
    ...connection,
    onResponse: verbose ? (info) => process.stderr.write(verboseLine(info)) : undefined,
    onFailover: verbose ? (info) => process.stderr.write(failoverLine(info)) : undefined,
  });
  const controller = new AbortController();
  let signalled = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    signalled = signal === 'SIGINT' ? 130 : 143;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: CommandContext = {
    client,
    json: parsed.global.json,
    // Names come from nodes: a hostile one must not send escape sequences to the terminal.
    out: (text) => process.stdout.write((parsed.global.json ? text : terminalSafe(text)) + '\n'),
    err: (text) => process.stderr.write(terminalSafe(text) + '\n'),
    progressStream: process.stderr,
    signal: controller.signal,
    via: connection.broker ?? connection.nodes.join(','),
  };
  try {
    await RUNNERS[parsed.command](ctx, parsed);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof BrokenPipeError) return 0;
    if (signalled) {
      process.stderr.write('nuvem: interrupted\n');
      return signalled;
    }
    if (parsed.global.json) ctx.out(JSON.stringify(errorJson(err)));
    ctx.err(`nuvem: ${describeError(err)}`);
    const hint = hintFor(err);
    if (hint) ctx.err(`nuvem: hint: ${hint}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close();
  }
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
    return await runCommand(parsed, env);
  } catch (err) {
    if (err instanceof UsageError) {
      const command = err.command ?? (parsed?.kind === 'command' ? parsed.command : undefined);
      process.stderr.write(`${terminalSafe(`nuvem: ${err.message}`)}\n${usageHint(command)}`);
      return 2;
    }
    process.stderr.write(terminalSafe(`nuvem: ${describeError(err)}`) + '\n');
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

const code = await main(process.argv.slice(2));
if (code !== undefined) exitAfterFlush(code);
