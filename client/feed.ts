/**
 * The live change feed without a broker: long-polls one node's
 * `GET /changes?since=&wait=`, starting at its end (`since=now`). When that
 * node fails, the feed moves to another node, starting at that node's end;
 * changes made during the switch may be missed, and `onGap` says so. When
 * the node pruned its log past the feed's cursor (410 `gone`: the feed fell
 * further behind than the node keeps), the feed goes on from the cursor the
 * answer gives and `onGap` says so with `pruned: true` (a mirror lists
 * again). Changes seen twice (the same origin and seq) are passed on once.
 */
import { parseChangeMessage, type ChangeMessage } from '../protocol/messages.ts';
import type { ClusterState } from './cluster_state.ts';
import { errorFromResponse, NuvemHttpError, NuvemNetworkError } from './errors.ts';
import { selectNodes, type NodeView } from './selection.ts';
import type { FetchLike } from './types.ts';

export interface FeedOptions {
  state: ClusterState;
  fetch: FetchLike;
  token?: string;
  timeoutMs: number;
  signal: AbortSignal;
  onChange(change: ChangeMessage): void;
  /** The feed moved to another node, or its node pruned the changes after the cursor (`pruned`); changes in between may be missing. */
  onGap?(info: { from: NodeView; reason: string; pruned?: boolean }): void;
  /** Seconds each long poll waits (default 25). */
  waitSeconds?: number;
  /** A node id or URL to follow while it is available. */
  prefer?: string;
}

const REMEMBERED = 10_000;

/** What reading one node's change feed needs. */
export interface FeedAccess {
  fetch: FetchLike;
  token?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One page of a node's change feed: the changes (validated; others dropped) and the cursor to ask from next. */
export interface FeedPage {
  changes: ChangeMessage[];
  cursor: string;
}

/**
 * `GET {node}/changes?{query}`: one page of that node's feed. Throws the
 * node's refusal as a `NuvemHttpError` (e.g. `410` once the node pruned its
 * log past the cursor asked for), or a `NuvemNetworkError`.
 */
export async function feedPage(access: FeedAccess, node: { url: string }, query: string, ms = access.timeoutMs): Promise<FeedPage> {
  let res: Response;
  const signals = [AbortSignal.timeout(ms), ...(access.signal ? [access.signal] : [])];
  try {
    res = await access.fetch(`${node.url}/changes?${query}`, {
      headers: access.token ? { authorization: `Bearer ${access.token}` } : {},
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    if (access.signal?.aborted) throw access.signal.reason ?? err;
    throw new NuvemNetworkError(node.url, { cause: err });
  }
  if (!res.ok) throw await errorFromResponse(res, node.url);
  const body = (await res.json()) as { changes?: unknown; cursor?: unknown };
  if (!Array.isArray(body.changes) || typeof body.cursor !== 'string') throw new TypeError(`Cannot read the change feed of ${node.url}`);
  const changes: ChangeMessage[] = [];
  for (const raw of body.changes) {
    const checked = parseChangeMessage(JSON.stringify(raw));
    if (checked.ok) changes.push(checked.value);
  }
  return { changes, cursor: body.cursor };
}

/** The node's newest cursor (`since=now`): reading from it gives only changes made after this call. */
export async function feedEnd(access: FeedAccess, node: { url: string }): Promise<string> {
  return (await feedPage(access, node, 'since=now&limit=1')).cursor;
}

export async function followChanges(options: FeedOptions): Promise<void> {
  const { state, signal } = options;
  const seen = new Set<string>();
  const wait = options.waitSeconds ?? 25;
  const access: FeedAccess = { fetch: options.fetch, token: options.token, timeoutMs: options.timeoutMs, signal };
  const avoid = new Set<string>();
  while (!signal.aborted) {
    let node: NodeView;
    try {
      node = selectNodes(state.views(), { exclude: avoid, prefer: options.prefer }).nodes[0];
    } catch (err) {
      if (avoid.size === 0) throw err;
      avoid.clear(); // every node failed once: try them all again, after a pause
      await pause(1000, signal);
      continue;
    }
    try {
      let cursor = await feedEnd(access, node);
      for (;;) {
        let page: FeedPage;
        try {
          page = await feedPage(access, node, `since=${cursor}&wait=${wait}`, options.timeoutMs + wait * 1000);
        } catch (err) {
          if (!(err instanceof NuvemHttpError && err.status === 410 && typeof err.body.cursor === 'string')) throw err;
          options.onGap?.({ from: node, reason: `${node.id} pruned the changes after cursor ${cursor} from its log`, pruned: true });
          cursor = err.body.cursor;
          continue;
        }
        for (const change of page.changes) {
          const key = `${change.origin}:${change.seq}`;
          if (seen.has(key)) continue;
          seen.add(key);
          if (seen.size > REMEMBERED) seen.delete(seen.values().next().value!);
          state.onChange(change);
          options.onChange(change);
        }
        cursor = page.cursor;
      }
    } catch (err) {
      if (signal.aborted) return;
      state.onFailure(node.id);
      avoid.add(node.id);
      options.onGap?.({ from: node, reason: (err as Error).message });
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
