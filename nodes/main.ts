/**
 * Node.js entry point of a storage node: `tsx nodes/main.ts --port P --data DIR …`
 * (also `nuvem node …`). See config.ts for the options.
 */
import './process_settings.ts';
import { pathToFileURL } from 'node:url';
import { parseNodeArgs, UsageError } from './config.ts';
import { nodeRuntime } from './http_node.ts';
import { startNode } from './mod.ts';

/** Runs a node until SIGINT or SIGTERM. */
export async function runNode(argv: string[]): Promise<void> {
  const config = parseNodeArgs(argv, process.env);
  const node = await startNode(config, nodeRuntime());
  const stop = () => {
    node.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runNode(process.argv.slice(2)).catch((err) => {
    console.error(`nuvem node: ${err instanceof Error ? err.message : err}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
