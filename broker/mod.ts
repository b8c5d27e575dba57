/**
 * The embedded MQTT broker (DESIGN.md sections 1 and 4): Aedes with Nuvem's
 * authentication and topic ACL (auth.ts), a TCP listener for nodes and the
 * CLI, and a WebSocket listener at `/mqtt` for browsers (the dashboard).
 * Used standalone (`nuvem broker`, main.ts) or inside a node or `nuvem up`.
 *
 * @example
 * const broker = await startBroker({ port: 0, wsPort: 0 });
 * console.log(broker.mqttUrl, broker.wsUrl); // mqtt://127.0.0.1:40123 ws://127.0.0.1:40124/mqtt
 * await broker.close();
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Log } from '../protocol/log.ts';
import { createAuth } from './auth.ts';
import { checkPrefix, DEFAULT_PREFIX } from '../protocol/topics.ts';
import type { Readable } from 'node:stream';
import { DEFAULT_MAX_PACKET_BYTES, limitPackets } from './packet_limit.ts';
import { wholeReads } from './whole_reads.ts';
import { printable } from '../protocol/errors.ts';
import { checkExposure } from '../protocol/flags.ts';
import { originAllowed } from '../protocol/origins.ts';

export const DEFAULT_MQTT_PORT = 1883;
export const DEFAULT_WS_PORT = 8083;
export const WS_PATH = '/mqtt';

export interface BrokerOptions {
  /** Address to bind (default 127.0.0.1; anything but loopback needs `token`). */
  host?: string;
  /** MQTT over TCP (default 1883; 0 = any free port). */
  port?: number;
  /** MQTT over WebSocket at `/mqtt` (default 8083; 0 = any free port; `false` = none). */
  wsPort?: number | false;
  /** Nodes' token: with it, only nodes (and readers) may connect. */
  token?: string;
  /** Nodes' own secret: with it, `token` lets clients subscribe only (auth.ts). */
  nodeToken?: string;
  /** Lets dashboards subscribe under the prefix and publish nothing. Needs `token`. */
  readToken?: string;
  /**
   * Without a token, browser origins besides loopback ones allowed on the
   * WebSocket listener (exact `scheme://host:port`); other origins are
   * refused so a web page elsewhere cannot drive a local cluster.
   */
  origins?: string[];
  /** Topic prefix (default `nuvem`). */
  prefix?: string;
  /** Largest MQTT packet a client may send (default 1 MiB); a larger one closes its connection. */
  maxPacketBytes?: number;
  log?: Log;
}

export interface RunningBroker {
  mqttUrl: string;
  /** `ws://host:port/mqtt`, or undefined without a WebSocket listener. */
  wsUrl: string | undefined;
  port: number;
  wsPort: number | undefined;
  broker: Aedes;
  /** Closes the listeners, every client connection and the broker; the ports are free once it resolves. */
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const host = options.host ?? '127.0.0.1';
  const log: Log = options.log ?? (() => {});
  checkExposure(host, options.token);
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const hooks = createAuth({ token: options.token, readToken: options.readToken, nodeToken: options.nodeToken, prefix, log });
  const broker = await Aedes.createBroker({ ...hooks, connectTimeout: 10_000 });
  watchBroker(broker, log);

  const maxBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  const guard = <S extends Readable>(stream: S) =>
    limitPackets(stream, { maxBytes, onRefused: (size) => log('warn', 'closed an MQTT connection that sent a packet over the size limit', { size, limit: maxBytes }) });
  const sockets = new Set<Socket>();
  const tcp = createTcpServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(guard(wholeReads(socket)));
  });
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;

  const close = once(async () => {
    const stopped = [stopServer(tcp), http && stopServer(http)];
    await bounded(new Promise<void>((resolve) => broker.close(() => resolve())));
    for (const socket of sockets) socket.destroy();
    for (const ws of wss?.clients ?? []) ws.terminate();
    wss?.close();
    http?.closeAllConnections?.();
    await Promise.all(stopped);
  });

  try {
    const port = await listen(tcp, { host, port: options.port ?? DEFAULT_MQTT_PORT, flag: '--port' });
    const wsPortOption = options.wsPort ?? DEFAULT_WS_PORT;
    let wsPort: number | undefined;
    if (wsPortOption !== false) {
      http = createHttpServer(answerPlainHttp);
      const origins = options.origins ?? [];
      wss = new WebSocketServer({
        server: http,
        path: WS_PATH,
        // With a token, credentials decide; without one, where the page comes from does (protocol/origins.ts).
        verifyClient: options.token ? undefined : (info: { origin?: string; req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
          const origin = info.req.headers.origin;
          if (originAllowed(origin, origins)) return done(true);
          log('warn', 'refused a WebSocket connection from a web page of another origin', { origin: printable(String(origin)) });
          done(false, 403, 'Origin not allowed');
        },
      });
      wss.on('error', () => {}); // ws re-emits the http server's errors; listen() reports them
      wss.on('connection', (ws, req: IncomingMessage) => {
        const stream = createWebSocketStream(ws, {
          // Aedes writes each packet in pieces between cork() and uncork(): send them as one frame, not one per piece.
          writev(chunks, callback) {
            this._write(Buffer.concat(chunks.map((c) => c.chunk as Buffer)), 'buffer' as BufferEncoding, callback);
          },
        });
        stream.on('error', () => ws.terminate());
        broker.handle(guard(wholeReads(stream)), req);
      });
      wsPort = await listen(http, { host, port: wsPortOption, flag: '--ws-port' });
    }
    const base = hostForUrl(host);
    return {
      mqttUrl: `mqtt://${base}:${port}`,
      wsUrl: wsPort === undefined ? undefined : `ws://${base}:${wsPort}${WS_PATH}`,
      port,
      wsPort,
      broker,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function watchBroker(broker: Aedes, log: Log): void {
  broker.on('clientReady', (client) => log('debug', 'broker client connected', { client: client.id }));
  broker.on('clientDisconnect', (client) => log('debug', 'broker client disconnected', { client: client.id }));
  broker.on('clientError', (client, err) => log('debug', 'broker client error', { client: client?.id, error: err.message }));
  broker.on('connectionError', (client, err) => log('debug', 'broker connection error', { client: client?.id, error: err.message }));
}

/** Plain HTTP to the WebSocket port: say what this port is for. */
function answerPlainHttp(req: IncomingMessage, res: ServerResponse): void {
  const onPath = (req.url ?? '').split('?')[0] === WS_PATH;
  res.writeHead(onPath ? 426 : 404, { 'content-type': 'application/json', ...(onPath ? { upgrade: 'websocket' } : {}) });
  res.end(
    JSON.stringify(
      onPath
        ? { error: 'upgrade_required', message: `MQTT over WebSocket: connect with a WebSocket to ${WS_PATH}` }
        : { error: 'not_found', message: `This is an MQTT WebSocket endpoint; use ${WS_PATH}` },
    ),
  );
}

function listen(server: TcpServer | HttpServer, options: { host: string; port: number; flag: string }): Promise<number> {
  const { host, port, flag } = options;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new Error(`Port ${port} on ${host} is already in use; choose another with ${flag}`));
      else if (err.code === 'EACCES') reject(new Error(`Not allowed to listen on port ${port} on ${host}; choose another with ${flag}`));
      else reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Stops accepting at once; resolves when every connection has ended (bounded, so close() never hangs). */
function stopServer(server: TcpServer | HttpServer): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return bounded(new Promise<void>((resolve) => server.close(() => resolve())));
}

function bounded(promise: Promise<void>, ms = 1000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
