/**
 * Who may connect to the broker and what they may publish or subscribe to
 * (DESIGN.md section 7.6), as the three Aedes hooks.
 *
 * - No token: anyone may connect, publish and subscribe (a loopback-only
 *   broker; `startBroker` refuses any other host without a token).
 * - `token`: a client whose password is the token is a **node**, and its
 *   username is its node id. A node may publish its own
 *   `{prefix}/nodes/{id}/…` and `{prefix}/events/{id}`, any `{prefix}/files/…`
 *   and `{prefix}/acks/…`, and subscribe to anything; and it may clear
 *   another node's retained status (an empty retained message), which is
 *   how a member is forgotten.
 * - `readToken`: a client whose password is the read token is a **reader**
 *   (a dashboard): it may subscribe under `{prefix}/` and publish nothing.
 *   Its username is free, but MQTT 3.1.1 needs one to send a password, and
 *   client ids starting with `nuvem-node-` are kept for nodes.
 * - `nodeToken`: nodes are told apart from clients. A node's password is
 *   its own credential, `nodeCredential(nodeToken, id)` (protocol/credentials.ts),
 *   so it can act as itself only; the cluster `token` then makes a client,
 *   which like a reader may subscribe and publish nothing. Without a node
 *   token, whoever holds `token` is a node.
 * - Anybody else is refused at CONNECT: 5 (not authorized) without a password,
 *   4 (bad user name or password) with a wrong one.
 *
 * A refused publish closes the client's connection (MQTT 3.1.1 has no way to
 * tell the client); a refused subscription is answered with SUBACK 0x80.
 * Tokens are compared as SHA-256 digests in constant time and never logged.
 *
 * @example
 * const auth = createAuth({ token: 'T', readToken: 'R', log });
 * const broker = await Aedes.createBroker({ ...auth });
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { Log } from '../protocol/log.ts';
import { DEFAULT_PREFIX } from '../protocol/topics.ts';
import { NODE_ID } from '../protocol/version.ts';
import { nodeCredential } from '../protocol/credentials.ts';
import { UsageError } from '../protocol/errors.ts';

/** Client ids starting with this belong to nodes (nodes/bus.ts); readers may not take them over. */
export const NODE_CLIENT_ID_PREFIX = 'nuvem-node-';

export type Role = { kind: 'anyone' } | { kind: 'node'; id: string } | { kind: 'reader' };

export interface AuthOptions {
  token?: string;
  /** Nodes' own secret: with it, `token` no longer makes a node (see above). */
  nodeToken?: string;
  readToken?: string;
  prefix?: string;
  log?: Log;
}

export interface AuthHooks {
  authenticate: (
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ) => void;
  authorizePublish: (client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void) => void;
  authorizeSubscribe: (
    client: Client,
    subscription: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ) => void;
}

export function createAuth(options: AuthOptions = {}): AuthHooks {
  const { token, readToken, nodeToken } = options;
  if (token === '' || readToken === '' || nodeToken === '') throw new UsageError('Cannot use an empty token');
  if (nodeToken !== undefined && token === undefined) throw new UsageError('Cannot use --node-token without --token');
  if (nodeToken !== undefined && nodeToken === token) throw new UsageError('Cannot use the same value for --token and --node-token');
  if (readToken !== undefined && token === undefined) {
    throw new UsageError('Cannot use --read-token without --token: without a token anyone may publish anyway');
  }
  if (readToken !== undefined && readToken === token) throw new UsageError('Cannot use the same value for --token and --read-token');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const log: Log = options.log ?? (() => {});
  const nodeDigest = token === undefined ? undefined : digest(token);
  const readDigest = readToken === undefined ? undefined : digest(readToken);
  const roles = new WeakMap<Client, Role>();
  const roleOf = (client: Client | null): Role | undefined =>
    nodeDigest === undefined ? { kind: 'anyone' } : client ? roles.get(client) : undefined;

  const refuse = (what: string, client: Client | null, fields: object) =>
    log('debug', `broker refused ${what}`, { client: client?.id, ...fields });

  return {
    authenticate(client, username, password, done) {
      if (nodeDigest === undefined) {
        roles.set(client, { kind: 'anyone' });
        return done(null, true);
      }
      const address = remoteAddress(client);
      const deny = (returnCode: 4 | 5, reason: string) => {
        refuse('connection', client, { username, address, reason });
        const err = new Error(returnCode === 4 ? 'bad user name or password' : 'not authorized') as AuthenticateError;
        err.returnCode = returnCode as AuthenticateError['returnCode'];
        done(err, null);
      };
      if (password === undefined || password.length === 0) return deny(5, 'no password');
      const given = digest(password);
      if (nodeToken !== undefined) {
        if (typeof username === 'string' && NODE_ID.test(username) && sameDigest(given, digest(nodeCredential(nodeToken, username)))) {
          roles.set(client, { kind: 'node', id: username });
          return done(null, true);
        }
        if (sameDigest(given, nodeDigest) || (readDigest !== undefined && sameDigest(given, readDigest))) {
          if (client.id.startsWith(NODE_CLIENT_ID_PREFIX)) return deny(5, `a client may not use a client id starting with ${NODE_CLIENT_ID_PREFIX}`);
          roles.set(client, { kind: 'reader' });
          return done(null, true);
        }
        return deny(4, 'wrong token');
      }
      if (sameDigest(given, nodeDigest)) {
        if (typeof username !== 'string' || !NODE_ID.test(username)) {
          return deny(4, 'a node must give its node id as the username');
        }
        roles.set(client, { kind: 'node', id: username });
        return done(null, true);
      }
      if (readDigest !== undefined && sameDigest(given, readDigest)) {
        if (client.id.startsWith(NODE_CLIENT_ID_PREFIX)) return deny(5, `a reader may not use a client id starting with ${NODE_CLIENT_ID_PREFIX}`);
        roles.set(client, { kind: 'reader' });
        return done(null, true);
      }
      deny(4, 'wrong token');
    },

    authorizePublish(client, packet, done) {
      const role = roleOf(client);
      const reason = clearsStatus(role, packet, prefix) ? undefined : publishRefusal(role, packet.topic, prefix) ?? payloadRefusal(role, packet.topic, packet.payload, prefix);
      if (reason === undefined) return done(null);
      refuse('publish', client, { topic: packet.topic, reason });
      done(new Error(`not authorized to publish on ${packet.topic}: ${reason}`));
    },

    authorizeSubscribe(client, subscription, done) {
      const reason = subscribeRefusal(roleOf(client), subscription.topic, prefix);
      if (reason === undefined) return done(null, subscription);
      refuse('subscription', client, { topic: subscription.topic, reason });
      done(null, null); // negated: SUBACK 0x80, the connection stays
    },
  };
}

/** Why `role` may not publish on `topic`, or undefined when it may. Pure. */
export function publishRefusal(role: Role | undefined, topic: string, prefix: string): string | undefined {
  if (topic.startsWith('$')) return '$ topics are reserved for the broker';
  if (role === undefined) return 'unknown client';
  if (role.kind === 'anyone') return undefined;
  if (role.kind === 'reader') return 'a read token only allows subscribing';
  if (!topic.startsWith(prefix + '/')) return undefined; // not Nuvem's business
  const [kind, first, ...rest] = topic.slice(prefix.length + 1).split('/');
  switch (kind) {
    case 'nodes':
      return first === role.id && rest.length > 0 ? undefined : `node ${role.id} may publish only under ${prefix}/nodes/${role.id}/`;
    case 'events':
      return first === role.id && rest.length === 0 ? undefined : `node ${role.id} may publish events only on ${prefix}/events/${role.id}`;
    case 'files':
    case 'acks':
      return first ? undefined : `missing the ${kind === 'files' ? 'path' : 'origin'}`;
    default:
      return `unknown topic under ${prefix}/`;
  }
}

/**
 * A node clearing another member's retained status (an empty retained
 * message on `{prefix}/nodes/{id}/status`): how a node that forgot a member
 * (`nuvem members forget`) tells the others and the broker. Pure.
 */
export function clearsStatus(role: Role | undefined, packet: { topic: string; payload: string | Uint8Array; retain?: boolean }, prefix: string): boolean {
  if (role?.kind !== 'node' || packet.payload.length !== 0 || !packet.retain) return false;
  const parts = packet.topic.split('/');
  return packet.topic.startsWith(prefix + '/') && parts.length === prefix.split('/').length + 3 &&
    parts[parts.length - 3] === 'nodes' && NODE_ID.test(parts[parts.length - 2]) && parts[parts.length - 1] === 'status';
}

/** The field of each node topic's payload that names the node speaking. */
const SPEAKER: Record<string, string> = { nodes: 'id', files: 'origin', acks: 'node' };

/**
 * Why a node may not publish this payload: it names another node as its
 * speaker (a status's `id`, a change's `origin`, an ack's `node`), so one
 * node cannot publish as another. Payloads that are not JSON objects, or
 * that leave the field out, are the receivers' to refuse. Pure.
 */
export function payloadRefusal(role: Role | undefined, topic: string, payload: string | Uint8Array, prefix: string): string | undefined {
  if (role?.kind !== 'node' || !topic.startsWith(prefix + '/')) return undefined;
  const field = SPEAKER[topic.slice(prefix.length + 1).split('/')[0]];
  if (field === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
  const named = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[field] : undefined;
  if (named === undefined || named === role.id) return undefined;
  return `node ${role.id} may not publish a message whose "${field}" is ${JSON.stringify(String(named).slice(0, 64))}`;
}

/** Why `role` may not subscribe to `filter`, or undefined when it may. Pure. */
export function subscribeRefusal(role: Role | undefined, filter: string, prefix: string): string | undefined {
  if (role === undefined) return 'unknown client';
  if (role.kind !== 'reader') return undefined;
  return filter.startsWith(prefix + '/') ? undefined : `a read token only allows subscribing under ${prefix}/`;
}

function digest(value: string | Uint8Array): Buffer {
  return createHash('sha256').update(value).digest();
}

function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function remoteAddress(client: Client): string | undefined {
  const conn = client.conn as { remoteAddress?: string } | undefined;
  return conn?.remoteAddress ?? client.req?.socket?.remoteAddress;
}
