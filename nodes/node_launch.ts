/**
 * `nuvem node …`: the storage node runs in a child process started exactly as
 * `nuvem up` starts its nodes (node_child.ts `nodeEntry`: the built bundle
 * dist/nuvem-node.cjs, or nodes/main.ts through tsx without a build, with the
 * V8 flags and environment of node_flags.ts). Those settings only take
 * effect at process start, hence the child. Its output goes straight to this
 * process's stdout and stderr, and its exit code becomes ours.
 *
 * SIGINT and SIGTERM to this process reach the node as SIGTERM (a Ctrl-C
 * also reaches it directly, being in the same process group; stopping twice
 * is stopping once). An IPC channel ties the node to this process: if this
 * one dies, even by `kill -9`, the node sees the channel close and stops
 * (main.ts).
 *
 * @example
 * process.exitCode = await launchNode(['--port', '7001', '--data', 'data/node-1']);
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { nodeEntry } from './node_child.ts';
import { NODE_ENV } from './node_flags.ts';
import { NODE_USAGE, wantsHelp } from './node_options.ts';

/** Runs a node with `argv` (its own flags) until it exits; resolves to the exit code to pass on. */
export async function launchNode(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(NODE_USAGE);
    return 0;
  }
  const entry = await nodeEntry();
  const child = spawn(process.execPath, [...entry.args, ...argv], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...NODE_ENV },
  });
  const forward = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`Cannot start the node process: ${err.message}`)));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 1)));
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}
