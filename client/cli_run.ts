/**
 * Runs one client command of the `nuvem` CLI (put, get, ls, …) against the
 * cluster. Loaded by cli.ts only when a command needs it, so `nuvem --help`
 * and usage errors do not load the client library.
 */
import process from 'node:process';
import { resolveConnection, UsageError, type ParsedCli } from './cli_args.ts';
import { RUNNERS, type CommandContext } from './cli_commands.ts';
import { describeError, errorJson, hintFor } from './cli_errors.ts';
import { BrokenPipeError } from './local_files.ts';
import { createClient } from './mod.ts';
import type { FailoverInfo, ResponseInfo } from './types.ts';
import { terminalSafe } from '../protocol/errors.ts';

function verboseLine(info: ResponseInfo): string {
  const served = info.nodeId ? `node ${info.nodeId} (${info.node})` : info.node;
  return `nuvem: ${info.method} ${info.url} -> ${info.status}, served by ${served}\n`;
}

function failoverLine(info: FailoverInfo): string {
  const what = info.resumeAt === undefined ? 'trying the next node' : `resuming from byte ${info.resumeAt} at another node`;
  return `nuvem: ${info.method} ${info.path} failed at node ${info.nodeId} (${info.node}): ${info.reason}; ${what}\n`;
}

/** Runs a client command; Ctrl-C or SIGTERM aborts it cleanly (no partial download left). */
export async function runCommand(parsed: Extract<ParsedCli, { kind: 'command' }>, env: Record<string, string | undefined>): Promise<number> {
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
    verbose,
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
