/**
 * The Nuvem client library: talks HTTP to storage nodes (DESIGN.md section 3)
 * with Web-standard `fetch` and streams, so it runs on Node 20 and Deno 2.
 *
 * It finds the nodes through the MQTT broker (their retained status, change
 * notices and acks) or, given node URLs and no broker, by polling their
 * `/status`; each request goes to the node `selection.ts` picks by
 * freshness, measured latency and load, and moves to the next on a
 * connection error, timeout or 5xx. Downloads resume at another node holding
 * the same version and are verified whole; uploads whose node fails before
 * answering are sent again elsewhere. After this client wrote version V of a
 * path, its reads never return anything older (`min_version`).
 *
 * @example
 * const nuvem = createClient({ broker: 'mqtt://127.0.0.1:1883' }); // or { nodes: ['http://127.0.0.1:7001'] }
 * await nuvem.put('notes/today.txt', 'hello', { contentType: 'text/plain' });
 * const res = await nuvem.get('notes/today.txt');
 * console.log(await res.text()); // 'hello'
 * for (const entry of await nuvem.list('notes')) console.log(entry.path);
 * await nuvem.close();
 *
 * Failures throw `NuvemHttpError` (the node's `status`, JSON `error` as
 * `code`, and `message`), `NuvemNetworkError`, `NoNodeAvailableError` when
 * no node can take the request, or `NuvemBrokerError` when the broker cannot
 * be reached. A `503` with code `write_concern` to a
 * change means the change *is stored* but not yet on as many replicas as
 * asked: treat it as stored; the client never sends it again elsewhere.
 */
import type { ChangeMessage } from '../protocol/messages.ts';
import { ClusterState, type NodeReport } from './cluster_state.ts';
import type { ClientContext } from './context.ts';
import { connectBroker, pollStatus, probeLatency, type BrokerLink } from './discovery.ts';
import { normalizeNodeUrl } from './paths.ts';
import type { FeedPage } from './feed.ts';
import { createReads, type FeedOptions } from './reads.ts';
import type { SendContext } from './sender.ts';
import type {
  ChangeOptions, ClientOptions, GetOptions, ListOptions, MoveOptions, NuvemEntry, NuvemRecord, PutBody, PutOptions,
  RemoveOptions,
} from './types.ts';
import { createWrites } from './writes.ts';
import { createMembers, type Members } from './members.ts';
import { createTrash, type RestoreOptions, type TrashEntry } from './trash.ts';

export { DigestMismatchError, NuvemBrokerError, NuvemHttpError, NuvemNetworkError, NuvemTimeoutError } from './errors.ts';
export { NoNodeAvailableError } from './selection.ts';
export type { NodeReport } from './cluster_state.ts';
export type { ChangeMessage } from '../protocol/messages.ts';
export type * from './types.ts';
export type { FeedPage } from './feed.ts';
export type { FeedOptions } from './reads.ts';
export type { RestoreOptions, TrashEntry } from './trash.ts';

export type { MemberView } from './members.ts';

export interface NuvemClient extends Members {
  /** Stores a file; resolves to its new record (plus `replicas`). */
  put(remote: string, body: PutBody, options?: PutOptions): Promise<NuvemRecord>;
  /** Streams a file: a `Response` with `body`, `ETag`, `Content-Length`, `Content-Digest`… */
  get(remote: string, options?: GetOptions): Promise<Response>;
  /** A path's record: a file's from `HEAD`, a folder's from its parent's listing. */
  stat(remote: string, options?: { signal?: AbortSignal }): Promise<NuvemEntry>;
  remove(remote: string, options?: RemoveOptions): Promise<void>;
  move(from: string, to: string, options?: MoveOptions): Promise<NuvemRecord | undefined>;
  mkdir(remote: string, options?: ChangeOptions): Promise<NuvemRecord | undefined>;
  /** Every entry of a folder (`''` is the root), following `next_cursor` to the end. */
  list(folder: string, options?: ListOptions): Promise<NuvemEntry[]>;
  /** The same entries, page by page as they arrive. */
  entries(folder: string, options?: ListOptions): AsyncGenerator<NuvemEntry>;
  /** Kept earlier versions of a path, newest first (not the current one). */
  revisions(remote: string, options?: { signal?: AbortSignal }): Promise<NuvemRecord[]>;
  /** Deleted files still restorable at `remote` or under it (`''`: the whole trash). */
  trash(remote?: string, options?: { signal?: AbortSignal }): Promise<TrashEntry[]>;
  /** Brings back what is in the trash at `remote` (a file, or a deleted folder's files) as new versions. */
  restore(remote: string, options?: RestoreOptions): Promise<NuvemRecord[]>;
  /** Resolves once the nodes are known (retained status from the broker, or a first poll); rejects if the broker cannot be reached. */
  ready(): Promise<void>;
  /** Every node as this client sees it; `probe` first asks each for its `/status`, measuring latency. */
  nodes(options?: { probe?: boolean }): Promise<NodeReport[]>;
  /**
   * Calls `onChange` for each change in the cluster as it happens (change
   * notices from the broker, or a node's change feed) until `signal` aborts.
   */
  watch(onChange: (change: ChangeMessage) => void, options: { signal: AbortSignal; onGap?: (reason: string) => void }): Promise<void>;
  /**
   * One page of one node's change feed (`GET /changes`) after `since`: the
   * changes and the cursor to go on from. Cursors belong to the node that
   * gave them (`node` in the answer). A `410` (the node pruned its log past
   * `since`) is thrown as a `NuvemHttpError`; no failover to another node.
   */
  feed(options: FeedOptions): Promise<FeedPage & { node: string }>;
  /** The current end of a node's change feed: reading from `cursor` gives only changes made after this call. */
  feedEnd(options?: Omit<FeedOptions, 'limit' | 'since'>): Promise<{ node: string; cursor: string }>;
  /** Disconnects from the broker and stops polling. */
  close(): Promise<void>;
}

/** How long a new client waits for its first latency probes before its first request. */
const FIRST_PROBE_WAIT_MS = 250;

/** Builds a client: discovery (broker or polling) here, its reads in `reads.ts`, its changes in `writes.ts`. */
export function createClient(options: ClientOptions): NuvemClient {
  const urls = (options.nodes ?? []).map(normalizeNodeUrl);
  if (!options.broker && urls.length === 0) throw new TypeError('Cannot create a Nuvem client: no broker and no node URLs given');
  if (options.broker && urls.length > 0) throw new TypeError('Cannot create a Nuvem client: give a broker or node URLs, not both');
  const state = new ClusterState();
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pollMs = options.pollMs ?? 5000;
  let link: BrokerLink | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const poll = (everyMs: number) =>
    pollStatus(state.urls(), { state, fetch: fetchFn, token: options.token, timeoutMs: Math.min(timeoutMs, 3000), everyMs });
  const sender: SendContext = {
    state,
    fetch: fetchFn,
    token: options.token,
    timeoutMs,
    onRequest: options.onRequest,
    onResponse: options.onResponse,
    onFailover: options.onFailover,
    refresh: () => poll(pollMs),
    prefer: options.prefer,
  };

  const started = (async () => {
    if (options.broker) {
      link = await connectBroker({ url: options.broker, state, token: options.token, prefix: options.prefix, timeoutMs: options.discoveryTimeoutMs ?? 3000 });
    } else {
      for (const url of urls) state.addUrl(url);
      await poll(pollMs);
    }
    if (closed) {
      await link?.close();
      return;
    }
    // Without a broker, or while it is unreachable, status comes from polling; nodes
    // not measured yet (new, restarted, or not asked for a while) are probed.
    let probing: Promise<void> | undefined;
    const probe = () => (probing ??= probeLatency({ state, fetch: fetchFn, timeoutMs: Math.min(timeoutMs, 3000) }).finally(() => (probing = undefined)));
    // The first request (a big upload, say) should already go to the closest node: wait a little for the first measures.
    let cap: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([probe(), new Promise<void>((resolve) => (cap = setTimeout(resolve, FIRST_PROBE_WAIT_MS)))]);
    clearTimeout(cap);
    timer = setInterval(() => {
      if (!link?.connected) void poll(pollMs).then(probe);
      else void probe();
    }, pollMs);
    (timer as { unref?: () => void }).unref?.();
  })();
  started.catch(() => {}); // reported by every call through ready()

  const ctx: ClientContext = { state, sender, options, started, link: () => link };
  const reads = createReads(ctx);
  const writes = createWrites(ctx, reads);
  const trash = createTrash(ctx);

  return {
    put: writes.put,
    get: reads.get,
    stat: reads.stat,
    remove: writes.remove,
    move: writes.move,
    mkdir: writes.mkdir,
    list: reads.list,
    entries: reads.entries,
    revisions: reads.revisions,
    ...createMembers(ctx),
    trash: trash.trash,
    restore: trash.restore,
    ready: () => started,

    async nodes(opts = {}) {
      await started;
      // A node's first answer to this client pays for connecting and is not a latency sample:
      // through the broker no request has warmed the connections yet, so probe twice.
      if (opts.probe && link) await poll(0);
      if (opts.probe) await poll(link ? 0 : pollMs);
      return state.report();
    },

    watch: reads.watch,
    feed: reads.feed,
    feedEnd: reads.feedEnd,

    async close() {
      closed = true;
      clearInterval(timer);
      await started.catch(() => {});
      await link?.close();
    },
  };
}
