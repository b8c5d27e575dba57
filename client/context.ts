/**
 * What the client's reads (`reads.ts`) and writes (`writes.ts`) share: the
 * cluster as this client sees it, the sender's context, the options it was
 * created with, and its start (discovery) that every call waits for.
 * `mod.ts` builds one per client.
 */
import type { ClusterState } from './cluster_state.ts';
import type { BrokerLink } from './discovery.ts';
import type { NuvemRequest } from './requests.ts';
import { send, type SendContext, type SendOptions, type Sent } from './sender.ts';
import type { ClientOptions } from './types.ts';

export interface ClientContext {
  readonly state: ClusterState;
  /** What `send` needs: fetch, token, timeouts, hooks, preferred node. */
  readonly sender: SendContext;
  readonly options: ClientOptions;
  /** Settles once the nodes are known (or the broker cannot be reached). */
  readonly started: Promise<void>;
  /** The broker link once connected; undefined when polling node URLs. */
  link(): BrokerLink | undefined;
}

/** Sends a request once the client has started. */
export async function call(ctx: ClientContext, request: NuvemRequest, opts: SendOptions): Promise<Sent> {
  await ctx.started;
  return send(ctx.sender, request, opts);
}

/** The JSON body of an answer, or undefined when it is empty. */
export async function readJson(sent: Sent, what: string): Promise<unknown> {
  try {
    const text = await sent.res.text();
    if (text === '') return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new TypeError(`Cannot read ${what}: the node's answer is not JSON`);
    }
  } finally {
    sent.finish();
  }
}

/** The node that answered: its own `X-Nuvem-Node`, else the one asked. */
export const servedBy = (sent: Sent) => sent.res.headers.get('x-nuvem-node') ?? sent.node.id;
