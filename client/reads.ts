/**
 * The client's reads: get (resumable, verified), stat, listing, revisions
 * and watching changes. A read never returns anything older than what this
 * client wrote or was served for the path (`min_version`, needs), unless a
 * version is pinned.
 */
import type { ChangeMessage } from '../protocol/messages.ts';
import { call, readJson, servedBy, type ClientContext } from './context.ts';
import { NuvemHttpError } from './errors.ts';
import { feedEnd, feedPage, followChanges, type FeedAccess, type FeedPage } from './feed.ts';
import { normalizeRemote } from './paths.ts';
import { parseListPage, parseRevisions, recordFromHeaders, unquoteEtag } from './records.ts';
import { getRequest, headRequest, listRequest, revisionsRequest } from './requests.ts';
import { send } from './sender.ts';
import { NoNodeAvailableError, selectNodes, type Need, type NodeView } from './selection.ts';
import { describedBy, rangeStart, resumableBody } from './transfer.ts';
import type { GetOptions, ListOptions, NuvemEntry, NuvemRecord } from './types.ts';

export interface Reads {
  get(remote: string, options?: GetOptions): Promise<Response>;
  stat(remote: string, options?: { signal?: AbortSignal }): Promise<NuvemEntry>;
  list(folder: string, options?: ListOptions): Promise<NuvemEntry[]>;
  entries(folder: string, options?: ListOptions): AsyncGenerator<NuvemEntry>;
  revisions(remote: string, options?: { signal?: AbortSignal }): Promise<NuvemRecord[]>;
  watch(onChange: (change: ChangeMessage) => void, options: { signal: AbortSignal; onGap?: (reason: string) => void }): Promise<void>;
  feed(options: FeedOptions): Promise<FeedPage & { node: string }>;
  feedEnd(options?: Omit<FeedOptions, 'limit' | 'since'>): Promise<{ node: string; cursor: string }>;
}

/** Which node's change feed to read, and from where. */
export interface FeedOptions {
  /** A node id; without it, the node this client would read from. A node known to be offline is refused (`NoNodeAvailableError`). */
  node?: string;
  /** The cursor to read after (`'0'`: the beginning). */
  since?: string;
  /** Changes per page (1 to 1000; default 1000). */
  limit?: number;
  signal?: AbortSignal;
}

export function createReads(ctx: ClientContext): Reads {
  const { state, options } = ctx;

  async function* entries(folder: string, opts: ListOptions = {}): AsyncGenerator<NuvemEntry> {
    const path = normalizeRemote(folder, { root: true });
    let cursor = '';
    const seen = new Set<string>();
    do {
      const request = listRequest(path, { recursive: opts.recursive, limit: opts.limit, cursor });
      const sent = await call(ctx, request, { policy: 'read', path, needs: state.ownNeeds(), signal: opts.signal });
      const page = parseListPage(await readJson(sent, `the listing of "${path || '/'}"`));
      yield* page.entries;
      if (page.nextCursor !== '' && seen.has(page.nextCursor)) {
        throw new Error(`Cannot list "${path || '/'}": the node repeated cursor "${page.nextCursor}"`);
      }
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    } while (cursor !== '');
  }

  /** Reads that must not return anything older than this client knows of the path. */
  const fresh = (path: string) => ({ needs: state.needsFor(path), minVersion: state.minVersionFor(path) });

  async function get(remote: string, opts: GetOptions = {}): Promise<Response> {
    const path = normalizeRemote(remote);
    const pinned = opts.version !== undefined;
    const { needs, minVersion } = pinned ? { needs: [], minVersion: undefined } : fresh(path);
    const prefer = opts.from === undefined ? undefined : [...(options.prefer === undefined ? [] : [options.prefer]), opts.from];
    const sent = await call(ctx, getRequest(path, { range: opts.range, version: opts.version, minVersion }), {
      policy: 'read', path, needs, signal: opts.signal, exclude: opts.exclude, prefer,
    });
    const { res } = sent;
    const described = describedBy(res);
    const origin = res.headers.get('x-nuvem-origin') ?? undefined;
    const seqHeader = res.headers.get('x-nuvem-seq');
    const seq = seqHeader !== null && /^\d+$/.test(seqHeader) ? Number(seqHeader) : undefined;
    if (!pinned) state.onServed(path, { version: described.version, origin, seq, node: servedBy(sent) });
    if (!res.body) {
      sent.finish();
      return res;
    }
    // Resumption: the same version, from the byte reached, at a node that holds it.
    const base = res.status === 206 ? rangeStart(res) ?? 0 : 0;
    const end = res.status === 206 ? Number(/-(\d+)\//.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN) : NaN;
    const holdsIt: Need[] = origin !== undefined && seq !== undefined ? [{ origin, seq, holders: [servedBy(sent)] }] : [];
    let current = sent.node;
    const body = resumableBody({ body: res.body, arm: sent.arm, finish: sent.finish }, {
      length: described.length,
      sha256: opts.unverified ? null : described.sha256,
      stallMs: ctx.sender.timeoutMs,
      signal: opts.signal,
      reopen: async ({ offset, error }) => {
        const at = base + offset;
        state.onFailure(current.id);
        options.onFailover?.({
          method: 'GET', path, node: current.url, nodeId: current.id, reason: (error as Error)?.message ?? String(error), resumeAt: at,
        });
        const request = getRequest(path, {
          version: described.version || undefined,
          range: { start: at, end: Number.isFinite(end) ? end : undefined },
          ifRange: described.version || undefined,
        });
        const next = await send(ctx.sender, request, {
          policy: 'read', path, needs: holdsIt, signal: opts.signal, exclude: [current.id, ...(opts.exclude ?? [])],
          accept: (r) => {
            const version = unquoteEtag(r.headers.get('etag'));
            if (described.version && version !== described.version) return `version ${version || '(none)'}, not ${described.version}`;
            if (r.status === 206 && rangeStart(r) !== at) return `a range from byte ${rangeStart(r)}, not ${at}`;
            return undefined;
          },
        });
        current = next.node;
        return { body: next.res.body!, arm: next.arm, finish: next.finish, skip: next.res.status === 200 ? at : 0 };
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  }

  async function stat(remote: string, opts: { signal?: AbortSignal } = {}): Promise<NuvemEntry> {
    const path = normalizeRemote(remote);
    try {
      const { needs, minVersion } = fresh(path);
      const sent = await call(ctx, headRequest(path, { minVersion }), { policy: 'read', path, needs, signal: opts.signal });
      sent.finish();
      const record = recordFromHeaders(path, sent.res.headers);
      state.onServed(path, { version: record.version, origin: record.origin, seq: record.seq, node: servedBy(sent) });
      return record;
    } catch (err) {
      // Not a file (404, or 400 for a folder, which a HEAD answer cannot explain): a folder shows up in its parent's listing.
      if (!(err instanceof NuvemHttpError) || (err.status !== 404 && err.status !== 400)) throw err;
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      try {
        for await (const entry of entries(parent, { signal: opts.signal })) {
          if (entry.path === path) return entry;
        }
      } catch (listError) {
        if (!(listError instanceof NuvemHttpError) || listError.status !== 404) throw listError;
      }
      // HEAD answers carry no body, so the node's own wording is not there to pass on.
      if (err.status === 400) throw err;
      throw new NuvemHttpError(`No file or folder at "${path}"`, { status: 404, code: 'not_found', node: err.node });
    }
  }

  async function list(folder: string, opts: ListOptions = {}): Promise<NuvemEntry[]> {
    const all: NuvemEntry[] = [];
    for await (const entry of entries(folder, opts)) all.push(entry);
    return all;
  }

  async function revisions(remote: string, opts: { signal?: AbortSignal } = {}): Promise<NuvemRecord[]> {
    const path = normalizeRemote(remote);
    const sent = await call(ctx, revisionsRequest(path), { policy: 'read', path, needs: state.needsFor(path), signal: opts.signal });
    return parseRevisions(await readJson(sent, `the revisions of "${path}"`));
  }

  async function watch(
    onChange: (change: ChangeMessage) => void,
    opts: { signal: AbortSignal; onGap?: (reason: string) => void },
  ): Promise<void> {
    await ctx.started;
    const link = ctx.link();
    if (link) {
      const broker = options.broker;
      const stops = [
        link.onChange(onChange),
        link.onConnection((connected) => opts.onGap?.(connected
          ? `reconnected to the broker ${broker}`
          : `lost the broker ${broker}; changes until it is back may be missing`)),
      ];
      await new Promise<void>((resolve) => {
        if (opts.signal.aborted) resolve();
        opts.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      for (const stop of stops) stop();
      return;
    }
    const { fetch, timeoutMs } = ctx.sender;
    await followChanges({
      state, fetch, token: options.token, timeoutMs, signal: opts.signal, onChange, prefer: options.prefer,
      onGap: (gap) => opts.onGap?.(gap.pruned
        ? `${gap.reason}; changes in between are missing (list again to see the current state)`
        : `the feed from ${gap.from.id} broke (${gap.reason}); changes until it resumes elsewhere may be missing`),
    });
  }

  /** The node a feed is read from: `id` if it is known and not offline, else (no id) the usual choice. */
  function feedNode(id: string | undefined): NodeView {
    const views = state.views();
    if (id === undefined) return selectNodes(views, { prefer: options.prefer }).nodes[0];
    const node = views.find((v) => v.id === id);
    if (!node || node.state === 'offline' || node.unreachable !== undefined) {
      const reason = node ? (node.unreachable ?? 'offline') : 'not known to this client';
      throw new NoNodeAvailableError(`Cannot read the change feed of node ${id}: ${reason}`, { excluded: [{ id, url: node?.url ?? '', reason }] });
    }
    return node;
  }

  const access = (signal: AbortSignal | undefined): FeedAccess => ({ fetch: ctx.sender.fetch, token: options.token, timeoutMs: ctx.sender.timeoutMs, signal });

  async function feed(opts: FeedOptions): Promise<FeedPage & { node: string }> {
    await ctx.started;
    const node = feedNode(opts.node);
    const since = opts.since ?? '0';
    if (!/^\d{1,15}$/.test(since)) throw new TypeError(`Cannot read a change feed from cursor "${since}": expected digits`);
    const limit = Math.min(1000, Math.max(1, Math.floor(opts.limit ?? 1000)));
    const page = await feedPage(access(opts.signal), node, `since=${since}&limit=${limit}`);
    return { ...page, node: node.id };
  }

  async function end(opts: Omit<FeedOptions, 'limit' | 'since'> = {}): Promise<{ node: string; cursor: string }> {
    await ctx.started;
    const node = feedNode(opts.node);
    return { node: node.id, cursor: await feedEnd(access(opts.signal), node) };
  }

  return { get, stat, list, entries, revisions, watch, feed, feedEnd: end };
}
