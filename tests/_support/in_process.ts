/**
 * A node wired exactly as `startNode` wires it (store in a temp folder, the
 * real `createApp`, status, metrics, auth), but served to `app.request()`
 * without a socket.
 */
import type { Hono } from 'hono';
import { nodeRuntime } from '../../nodes/http_node.ts';
import { startNode, type Runtime } from '../../nodes/mod.ts';
import type { Store } from '../../nodes/store.ts';
import { NO_BROKER } from './node_process.ts';
import { tempDir } from './temp.ts';

export interface InProcessNode {
  id: string;
  app: Hono;
  store: Store;
  dataDir: string;
  /** `app.request(target, init)` with the node's token, if any, unless headers say otherwise. */
  request(target: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** The Node runtime minus the socket: `app.request()` is the only way in. */
function socketless(): Runtime {
  return {
    ...nodeRuntime(),
    serve: async () => ({ port: 0, close: async () => {} }),
    stampsNodeHeader: false,
    rawTarget: undefined,
    requestBody: undefined,
  };
}

export async function inProcessNode(options: { token?: string; keepRevisions?: number; changesKeep?: number } = {}): Promise<InProcessNode> {
  const dir = tempDir('app');
  // startNode always prints its "listening" line (tools read the URL from it); here there is no URL to read.
  const print = console.log;
  console.log = (...args: unknown[]) => {
    if (!(typeof args[0] === 'string' && args[0].includes('"msg":"listening"'))) print(...args);
  };
  const node = await startNode(
    {
      host: '127.0.0.1',
      port: 0,
      dataDir: dir.path,
      broker: NO_BROKER,
      embeddedBroker: false,
      watch: false,
      token: options.token,
      logLevel: 'error',
      antiEntropyMs: 30_000,
      keepRevisions: options.keepRevisions ?? 10,
      heartbeatMs: 1000,
      changesKeep: options.changesKeep,
    },
    socketless(),
  ).finally(() => {
    console.log = print;
  });
  return {
    id: node.id,
    app: node.app,
    store: node.store,
    dataDir: dir.path,
    request: (target, init = {}) => {
      const headers = new Headers(init.headers);
      if (options.token && !headers.has('authorization')) headers.set('authorization', `Bearer ${options.token}`);
      return Promise.resolve(node.app.request(target, { ...init, headers }));
    },
    async close() {
      await node.stop();
      dir.cleanup();
    },
  };
}
