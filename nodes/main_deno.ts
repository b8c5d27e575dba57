/**
 * Deno entry point of a storage node: `deno task node -- --port P --data DIR …`.
 * Same options and API as the Node entry (main.ts); serves with `Deno.serve`.
 */
import { parseNodeArgs } from './config.ts';
import { NODE_USAGE, wantsHelp } from './node_options.ts';
import { startNode, type Runtime } from './mod.ts';
import { diskUsage } from './resources.ts';
import { UsageError } from '../protocol/errors.ts';

// deno-lint-ignore no-explicit-any
declare const Deno: any;

export function denoRuntime(): Runtime {
  return {
    name: `deno ${Deno.version.deno}`,
    serve(app, { host, port }) {
      return new Promise((resolve, reject) => {
        try {
          const server = Deno.serve({
            hostname: host,
            port,
            onListen: ({ port: bound }: { port: number }) => resolve({ port: bound, close: () => server.shutdown() }),
          }, app.fetch);
        } catch (err) {
          const inUse = (err as Error).name === 'AddrInUse';
          reject(inUse ? new Error(`Port ${port} on ${host} is already in use; choose another with --port`) : err);
        }
      });
    },
    // node:fs statfs works under Deno 2 (with --allow-read), so disk figures are the same as under Node.
    diskUsage,
  };
}

// Deno sets import.meta.main in the entry module; @types/node for Node 20 does not declare it.
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  try {
    const args = Deno.args[0] === '--' ? Deno.args.slice(1) : Deno.args;
    if (wantsHelp(args)) {
      console.log(NODE_USAGE.trimEnd());
      Deno.exit(0);
    }
    const config = parseNodeArgs(args, Deno.env.toObject());
    const node = await startNode(config, denoRuntime());
    const stop = () => node.stop().then(() => Deno.exit(0), () => Deno.exit(1));
    Deno.addSignalListener('SIGINT', stop);
    Deno.addSignalListener('SIGTERM', stop);
  } catch (err) {
    console.error(`nuvem node: ${err instanceof Error ? err.message : err}`);
    Deno.exit(err instanceof UsageError ? 2 : 1);
  }
}
