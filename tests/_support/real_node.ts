/**
 * One node in this process served by the Node runtime on a loopback port (no
 * broker), for tests that compare what goes over a real socket with what the
 * app answers to `app.request()`.
 */
import type { NodeApp } from '../../functions/mod.ts';
import { nodeRuntime, type HttpLimits } from '../../nodes/http_node.ts';
import { startNode, type RunningNode } from '../../nodes/mod.ts';
import { NO_BROKER } from './node_process.ts';
import { tempDir } from './temp.ts';

export async function realNode(token?: string, limits: Partial<HttpLimits> = {}): Promise<{ node: RunningNode & { app: NodeApp }; close(): Promise<void> }> {
  const dir = tempDir('fast');
  const print = console.log;
  console.log = () => {}; // the "listening" line
  const node = await startNode({
    host: '127.0.0.1', port: 0, dataDir: dir.path, broker: NO_BROKER, embeddedBroker: false, watch: false, token,
    logLevel: 'error', antiEntropyMs: 30_000, keepRevisions: 10, heartbeatMs: 1000,
  }, nodeRuntime(limits)).finally(() => {
    console.log = print;
  });
  return { node: node as RunningNode & { app: NodeApp }, close: async () => { await node.stop(); dir.cleanup(); } };
}

/** Response headers but those of the connection (date, connection, keep-alive). */
export const headersOf = (res: Response) => Object.fromEntries([...res.headers].filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
