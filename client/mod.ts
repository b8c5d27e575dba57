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
import { connectBroker, pollStatus, probeLatency, type BrokerLink } from './discovery.ts';
import { NuvemHttpError } from './errors.ts';
import { followChanges } from './feed.ts';
import { normalizeNodeUrl, normalizeRemote } from './paths.ts';
import { parseListPage, parseRevisions, recordFromHeaders, unquoteEtag } from './records.ts';
import {
  deleteRequest, getRequest, headRequest, listRequest, mkcolRequest, moveRequest, putRequest, revisionsRequest,
  type NuvemRequest,
} from './requests.ts';
import { afterUnknownOutcome, send, type SendContext, type SendOptions, type Sent } from './sender.ts';
import type { Need } from './selection.ts';
import { bodySource, describedBy, rangeStart, resumableBody } from './transfer.ts';
import type {
  ChangeOptions, ClientOptions, GetOptions, ListOptions, MoveOptions, NuvemEntry, NuvemRecord, PutBody, PutOptions,
  RemoveOptions,
} from './types.ts';

export { DigestMismatchError, NuvemBrokerError, NuvemHttpError, NuvemNetworkError, NuvemTimeoutError } from './errors.ts';
export { NoNodeAvailableError } from './selection.ts';
export type { NodeReport } from './cluster_state.ts';
export type { ChangeMessage } from '../protocol/messages.ts';
export type * from './types.ts';

export interface NuvemClient {
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
  /** Resolves once the nodes are known (retained status from the broker, or a first poll); rejects if the broker cannot be reached. */
  ready(): Promise<void>;
  /** Every node as this client sees it; `probe` first asks each for its `/status`, measuring latency. */
  nodes(options?: { probe?: boolean }): Promise<NodeReport[]>;
  /**
   * Calls `onChange` for each change in the cluster as it happens (change
   * notices from the broker, or a node's change feed) until `signal` aborts.
   */
  watch(onChange: (change: ChangeMessage) => void, options: { signal: AbortSignal; onGap?: (reason: string) => void }): Promise<void>;
  /** Disconnects from the broker and stops polling. */
  close(): Promise<void>;
}

/** The JSON body of an answer, or undefined when it is empty. */
async function readJson(sent: Sent, what: string): Promise<unknown> {
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

/** How long a new client waits for its first latency probes before its first request. */
const FIRST_PROBE_WAIT_MS = 250;

const servedBy = (sent: Sent) => sent.res.headers.get('x-nuvem-node') ?? sent.node.id;

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
  const ctx: SendContext = {
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

  async function call(request: NuvemRequest, opts: SendOptions): Promise<Sent> {
    await started;
    return send(ctx, request, opts);
  }

  /** Records a change this client made, from the node's answer (or its `write_concern` refusal). */
  function noteWrite(path: string, answer: { record?: Record<string, unknown>; node: string; deleted?: boolean }): void {
    const { record, node, deleted = false } = answer;
    if (record && typeof record.version === 'string') {
      state.onWrite({
        path: typeof record.path === 'string' ? record.path : path,
        version: record.version,
        origin: typeof record.origin === 'string' ? record.origin : undefined,
        seq: typeof record.seq === 'number' ? record.seq : undefined,
        deleted: record.deleted === true || deleted,
        replicas: Array.isArray(record.replicas) ? (record.replicas as string[]) : undefined,
        node,
      });
    } else {
      const replicas = record && Array.isArray(record.replicas) ? (record.replicas as string[]) : undefined;
      state.onWrite({ path, node, deleted, replicas });
    }
  }

  /** A change answered `503 write_concern`: stored; remember it, then let the caller see the error. */
  function noteConcern(err: unknown, path: string): void {
    if (err instanceof NuvemHttpError && err.code === 'write_concern') {
      const node = state.idOf(err.node) ?? err.node;
      noteWrite(path, { record: err.body, node });
    }
  }

  async function* entries(folder: string, opts: ListOptions = {}): AsyncGenerator<NuvemEntry> {
    const path = normalizeRemote(folder, { root: true });
    let cursor = '';
    const seen = new Set<string>();
    do {
      const request = listRequest(path, { recursive: opts.recursive, limit: opts.limit, cursor });
      const sent = await call(request, { policy: 'read', path, needs: state.ownNeeds(), signal: opts.signal });
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
    const sent = await call(getRequest(path, { range: opts.range, version: opts.version, minVersion }), {
      policy: 'read', path, needs, signal: opts.signal,
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
      sha256: described.sha256,
      stallMs: timeoutMs,
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
        const next = await send(ctx, request, {
          policy: 'read', path, needs: holdsIt, signal: opts.signal, exclude: [current.id],
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
      const sent = await call(headRequest(path, { minVersion }), { policy: 'read', path, needs, signal: opts.signal });
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

  return {
    async put(remote, body, opts = {}) {
      const path = normalizeRemote(remote);
      const source = bodySource(body, opts.size);
      const request = putRequest(path, { ...opts, size: source.size });
      // A conditional write must meet the version this client knows of, not an older one.
      const conditional = opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined;
      let sent: Sent;
      try {
        sent = await call(request, {
          policy: 'put', path, body: source, needs: conditional ? state.needsFor(path) : [], signal: opts.signal, onProgress: opts.onProgress,
        });
      } catch (err) {
        noteConcern(err, path);
        // The first attempt may have stored it before failing: then the condition fails on the retry, for our own bytes.
        if (err instanceof NuvemHttpError && err.status === 412 && afterUnknownOutcome(err) && opts.sha256) {
          const current = await stat(path, { signal: opts.signal }).catch(() => undefined);
          if (current?.sha256 === opts.sha256.toLowerCase()) return current;
        }
        throw err;
      }
      const record = (await readJson(sent, `the record of "${path}"`)) as NuvemRecord;
      noteWrite(path, { record, node: servedBy(sent) });
      if (source.size !== undefined) opts.onProgress?.(source.size);
      return record;
    },

    get,

    stat,

    async remove(remote, opts = {}) {
      const path = normalizeRemote(remote);
      let sent: Sent;
      try {
        sent = await call(deleteRequest(path, opts), { policy: 'change', path, needs: state.needsFor(path), signal: opts.signal });
      } catch (err) {
        noteConcern(err, path);
        // An earlier attempt may have deleted it before its node failed.
        if (err instanceof NuvemHttpError && err.status === 404 && afterUnknownOutcome(err)) return;
        throw err;
      }
      sent.finish();
      await sent.res.body?.cancel();
      noteWrite(path, { node: servedBy(sent), deleted: true });
    },

    async move(from, to, opts = {}) {
      const path = normalizeRemote(from);
      const target = normalizeRemote(to);
      let sent: Sent;
      try {
        sent = await call(moveRequest(path, target, opts), { policy: 'once', path, needs: state.needsFor(path), signal: opts.signal });
      } catch (err) {
        noteConcern(err, target);
        throw err;
      }
      const result = (await readJson(sent, `the move of "${path}"`)) as NuvemRecord | undefined;
      const node = servedBy(sent);
      const records = Array.isArray(result?.entries) ? (result.entries as Record<string, unknown>[]) : result ? [result] : [];
      for (const r of records) noteWrite(String(r.path ?? target), { record: { ...r, replicas: result?.replicas }, node });
      if (result && !Array.isArray(result.entries)) noteWrite(path, { record: { ...result, path, deleted: true }, node, deleted: true });
      return result;
    },

    async mkdir(remote, opts = {}) {
      const path = normalizeRemote(remote);
      let sent: Sent;
      try {
        sent = await call(mkcolRequest(path, opts), { policy: 'change', path, signal: opts.signal });
      } catch (err) {
        noteConcern(err, path);
        // An earlier attempt may have made it before its node failed.
        if (err instanceof NuvemHttpError && (err.status === 405 || err.status === 409) && afterUnknownOutcome(err)) return undefined;
        throw err;
      }
      const record = (await readJson(sent, `the folder "${path}"`)) as NuvemRecord | undefined;
      noteWrite(path, { record, node: servedBy(sent) });
      return record;
    },

    async list(folder, opts = {}) {
      const all: NuvemEntry[] = [];
      for await (const entry of entries(folder, opts)) all.push(entry);
      return all;
    },

    entries,

    async revisions(remote, opts = {}) {
      const path = normalizeRemote(remote);
      const sent = await call(revisionsRequest(path), { policy: 'read', path, needs: state.needsFor(path), signal: opts.signal });
      return parseRevisions(await readJson(sent, `the revisions of "${path}"`));
    },

    ready: () => started,

    async nodes(opts = {}) {
      await started;
      // A node's first answer to this client pays for connecting and is not a latency sample:
      // through the broker no request has warmed the connections yet, so probe twice.
      if (opts.probe && link) await poll(0);
      if (opts.probe) await poll(link ? 0 : pollMs);
      return state.report();
    },

    async watch(onChange, opts) {
      await started;
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
      await followChanges({
        state, fetch: fetchFn, token: options.token, timeoutMs, signal: opts.signal, onChange, prefer: options.prefer,
        onGap: (gap) => opts.onGap?.(`the feed from ${gap.from.id} broke (${gap.reason}); changes until it resumes elsewhere may be missing`),
      });
    },

    async close() {
      closed = true;
      clearInterval(timer);
      await started.catch(() => {});
      await link?.close();
    },
  };
}
