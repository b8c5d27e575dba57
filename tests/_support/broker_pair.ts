/**
 * An Aedes broker with Nuvem's hooks (`createAuth`, as `startBroker` builds
 * it) that clients reach over an in-memory duplex pair instead of a socket,
 * in the way Aedes's own tests do (test/helper.js there): one end goes to
 * `broker.handle()`, MQTT.js talks over the other through its
 * `streamBuilder`. No port, no listener, no packet-size guard: this tests
 * the ACL only (tests/broker_auth.test.ts tests the listener).
 *
 * Each client records every packet it receives, so tests can read a
 * CONNACK's return code or a SUBACK's granted list exactly, and `closed()`
 * resolves when the broker ends its connection.
 *
 * @example
 * const pair = await pairBroker({ token: 'T' });
 * const n1 = await pair.connect({ username: 'n1', password: 'T' });
 * await n1.client.publishAsync('nuvem/nodes/n2/x', '{}'); // refused:
 * await n1.closed();
 * await pair.close();
 */
import { duplexPair } from 'node:stream';
import { Aedes } from 'aedes';
import { type IClientOptions, MqttClient, type Packet } from 'mqtt';
import { type AuthOptions, createAuth } from '../../broker/auth.ts';

export type Message = { topic: string; payload: string };

export interface PairClient {
  client: MqttClient;
  /** Every PUBLISH received, in order. */
  seen: Message[];
  /** Every packet received from the broker, in order (CONNACK, SUBACK, PUBLISH…). */
  packets: Packet[];
  /** Resolves with the first message on `topic` (already seen or arriving); rejects after `ms`. */
  next(topic: string, ms?: number): Promise<Message>;
  /** Resolves when the connection is closed (by either side); rejects if it is still open after `ms`. */
  closed(ms?: number): Promise<void>;
}

export interface PairBroker {
  broker: Aedes;
  /** A connected client; rejects if the broker refuses the CONNECT. */
  connect(options?: IClientOptions): Promise<PairClient>;
  /** Connects expecting a refusal; resolves with the CONNACK return code (rejects if accepted). */
  refused(options?: IClientOptions): Promise<number>;
  /** Ends every client, then closes the broker. */
  close(): Promise<void>;
}

const TIMEOUT_MS = 2000;

export async function pairBroker(options: Omit<AuthOptions, 'log'> = {}): Promise<PairBroker> {
  const broker = await Aedes.createBroker({ ...createAuth(options), connectTimeout: 10_000 });
  const clients: PairClient[] = [];

  /** Starts a client over a fresh pair; resolves with the client and the CONNACK (or an error before any). */
  const open = (options: IClientOptions) => {
    const [clientEnd, brokerEnd] = duplexPair();
    // A pair's ends do not close each other: do it as a socket would.
    brokerEnd.once('close', () => clientEnd.destroy());
    clientEnd.once('close', () => brokerEnd.destroy());
    broker.handle(brokerEnd);

    let built = false;
    const client = new MqttClient(() => {
      if (built) throw new Error('broker_pair: a pair carries one connection; reconnecting is off');
      built = true;
      return clientEnd;
    }, { reconnectPeriod: 0, connectTimeout: TIMEOUT_MS, protocolVersion: 4, ...options });

    const seen: Message[] = [];
    const packets: Packet[] = [];
    const waiters: { topic: string; resolve: (m: Message) => void }[] = [];
    const ended = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const closed = (ms = TIMEOUT_MS) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
      });
      return Promise.race([ended, late]).finally(() => clearTimeout(timer));
    };
    const connack = new Promise<Packet>((resolve, reject) => {
      client.on('packetreceive', (packet) => {
        packets.push(packet);
        if (packet.cmd === 'connack') resolve(packet);
      });
      client.on('error', (err) => reject(err)); // also keeps a refused CONNACK from throwing
      ended.then(() => reject(new Error('closed before CONNACK')));
    });
    client.on('message', (topic, payload) => {
      const m = { topic, payload: payload.toString() };
      seen.push(m);
      for (const w of waiters.filter((w) => w.topic === topic)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    });
    const next = (topic: string, ms = TIMEOUT_MS) => {
      const already = seen.find((m) => m.topic === topic);
      if (already) return Promise.resolve(already);
      return new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${ms} ms`)), ms);
        waiters.push({ topic, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    };
    const pc: PairClient = { client, seen, packets, next, closed };
    clients.push(pc);
    return { pc, connack };
  };

  return {
    broker,
    async connect(options = {}) {
      const { pc, connack } = open(options);
      const packet = await connack;
      const code = (packet as { returnCode?: number }).returnCode;
      if (code !== 0) throw new Error(`CONNACK refused with ${code}`);
      return pc;
    },
    async refused(options = {}) {
      const { pc, connack } = open(options);
      const packet = await connack.catch(() => pc.packets.find((p) => p.cmd === 'connack'));
      if (packet === undefined) throw new Error('no CONNACK');
      const code = (packet as { returnCode?: number }).returnCode ?? 0;
      if (code === 0) throw new Error(`accepted ${JSON.stringify({ ...options, password: undefined })}`);
      return code;
    },
    async close() {
      await Promise.all(clients.map((c) => c.client.endAsync(true).catch(() => {})));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
