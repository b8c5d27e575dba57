/**
 * Sends one request with failover (DESIGN.md section 5): the node comes from
 * `selection.ts`; on a connection error, a timeout or a 5xx the request goes
 * to the next candidate, as far as `policy` allows:
 *
 * - `read` (GET, HEAD, listings): always; a 404 from a node not known to
 *   hold what the read needs counts as "behind", not as an answer.
 * - `put`: when the body can be sent again. A `503 write_concern` means the
 *   change is stored: it is never sent again elsewhere.
 * - `change` (DELETE, MKCOL): also after a failure that may have landed;
 *   the caller reads a 404 (DELETE) or an "exists" (MKCOL) after such a
 *   failure as done (`afterUnknownOutcome`).
 * - `once` (MOVE): only when the request surely never reached a node
 *   (connection refused) or the node answered 5xx.
 *
 * Each read measures the time to the answer's headers for the latency
 * average, and each attempt has a deadline: `timeoutMs` to the headers, and for a
 * streamed upload `timeoutMs` between chunks, then `timeoutMs` plus the
 * node's ack timeout (5 s + 1 s per 64 MiB) for the answer.
 */
import type { ClusterState } from './cluster_state.ts';
import { ackTimeoutMs } from '../protocol/write_concern.ts';
import { errorFromResponse, NuvemHttpError, NuvemNetworkError, NuvemTimeoutError } from './errors.ts';
import { joinUrl } from './paths.ts';
import type { NuvemRequest } from './requests.ts';
import { holds, NoNodeAvailableError, selectNodes, type Need, type NodeView } from './selection.ts';
import type { FailoverInfo, FetchLike, RequestInfo, ResponseInfo } from './types.ts';

export type RetryPolicy = 'read' | 'put' | 'change' | 'once';

/** What the request body is, and whether it can be sent again. */
export interface BodySource {
  /** A fresh body for one attempt. */
  open(): BodyInit;
  /** Byte count when known. */
  size?: number;
  /** Can `open` be called again after an attempt consumed the body? */
  readonly replayable: boolean;
  /** Has any attempt read from it (matters when it is not replayable)? */
  readonly touched: boolean;
}

export interface SendContext {
  state: ClusterState;
  fetch: FetchLike;
  token?: string;
  timeoutMs: number;
  onRequest?: (info: RequestInfo) => void;
  onResponse?: (info: ResponseInfo) => void;
  onFailover?: (info: FailoverInfo) => void;
  /** Refreshes what the client knows (polls the nodes) before giving up for want of a node. */
  refresh?: () => Promise<void>;
  /** A node id or URL to try first while it is eligible (see `selection.ts`). */
  prefer?: string;
}

export interface SendOptions {
  policy: RetryPolicy;
  /** The remote path, for messages. */
  path: string;
  needs?: readonly Need[];
  body?: BodySource;
  signal?: AbortSignal;
  /** Node ids not to try. */
  exclude?: Iterable<string>;
  /** Nodes (ids or URLs) to try first, in this order, while eligible; default: the client's `prefer`. */
  prefer?: readonly string[];
  /** A 2xx that is not what was asked for (another version): try the next node. */
  accept?: (res: Response) => string | undefined;
  /** Called with the bytes of the body sent so far (streamed bodies). */
  onProgress?: (sent: number) => void;
  /**
   * The answer may take long (a recursive DELETE, a folder MOVE of many
   * entries): the deadline to it runs from the node's last sign of life
   * (`/health`, probed every few seconds meanwhile), not from the request.
   */
  whileAlive?: boolean;
}

/** An answer, and control over its body. */
export interface Sent {
  res: Response;
  node: NodeView;
  /** An earlier attempt failed in a way that may have landed. */
  ambiguous: boolean;
  /** Aborts the request, e.g. when its body stalls. */
  abort(reason: Error): void;
  /** Re-arms the deadline (a body chunk arrived); `undefined` stops it. */
  arm(ms: number | undefined, what: string): void;
  /** The body is done with: the request no longer counts as in progress. */
  finish(): void;
}

const unknownOutcome = new WeakSet<object>();

/** The error followed an attempt that may have landed (reset or timeout on a change). */
export function afterUnknownOutcome(err: unknown): boolean {
  return typeof err === 'object' && err !== null && unknownOutcome.has(err);
}

/** The node's ack timeout for `bytes` of content (DESIGN.md section 3). */
export function answerAllowanceMs(bytes: number | undefined): number {
  return ackTimeoutMs(bytes ?? 0);
}

export async function send(ctx: SendContext, request: NuvemRequest, opts: SendOptions): Promise<Sent> {
  const tried = new Set(opts.exclude ?? []);
  let lastError: Error | undefined;
  let ambiguous = false;
  let refreshed = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    let candidates;
    try {
      candidates = selectNodes(ctx.state.views(), { needs: opts.needs, exclude: tried, prefer: opts.prefer ?? ctx.prefer });
    } catch (err) {
      if (!(err instanceof NoNodeAvailableError)) throw err;
      if (!refreshed && ctx.refresh) {
        refreshed = true;
        await ctx.refresh();
        continue;
      }
      throw finalError(lastError ?? err, ambiguous);
    }
    const node = candidates.nodes[0];
    tried.add(node.id);
    if (opts.body && !opts.body.replayable && opts.body.touched) throw finalError(lastError!, ambiguous);
    let sent: Sent;
    try {
      sent = await attempt(ctx, request, { ...opts, node });
    } catch (err) {
      if (!(err instanceof NuvemNetworkError)) throw err;
      lastError = err;
      const retry = opts.policy !== 'once' || err.refused;
      if (!err.refused) ambiguous = true;
      if (!retry) throw finalError(err, ambiguous);
      ctx.onFailover?.({ method: request.method, path: opts.path, node: node.url, nodeId: node.id, reason: err.message });
      continue;
    }
    sent.ambiguous = ambiguous;
    const { res } = sent;
    if (res.ok) {
      const wrong = opts.accept?.(res);
      if (wrong === undefined) return sent;
      sent.finish();
      await res.body?.cancel().catch(() => {});
      lastError = new Error(`${node.id} answered with ${wrong}`);
      ctx.onFailover?.({ method: request.method, path: opts.path, node: node.url, nodeId: node.id, reason: lastError.message });
      continue;
    }
    const error = await errorFromResponse(res, node.url);
    sent.finish();
    if (!retryable(error, { ...opts, node, stale: candidates.stale })) throw finalError(error, ambiguous);
    lastError = error;
    ctx.onFailover?.({ method: request.method, path: opts.path, node: node.url, nodeId: node.id, reason: `${error.status} ${error.message}` });
  }
}

function retryable(error: NuvemHttpError, opts: SendOptions & { node: NodeView; stale: boolean }): boolean {
  const { node, stale } = opts;
  if (error.code === 'write_concern') return false;
  if (error.status >= 500) return opts.policy !== 'put' || opts.body === undefined || opts.body.replayable || !opts.body.touched;
  if (opts.policy === 'read' && error.status === 404) {
    // Not there, says a node that may simply not have received it yet.
    return stale || (opts.needs ?? []).some((need) => !holds(node, need));
  }
  return false;
}

function finalError(err: Error, ambiguous: boolean): Error {
  if (ambiguous) unknownOutcome.add(err);
  return err;
}

/** One attempt at one node. Network failures and timeouts come back as `NuvemNetworkError`. */
async function attempt(ctx: SendContext, request: NuvemRequest, opts: SendOptions & { node: NodeView }): Promise<Sent> {
  const { node } = opts;
  const url = joinUrl(node.url, request.target);
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number | undefined, what: string) => {
    clearTimeout(timer);
    if (ms !== undefined) timer = setTimeout(() => controller.abort(new NuvemTimeoutError(`${what} within ${seconds(ms)}`)), ms);
  };
  // The upload body may still be read (or flushed) after the answer or a failure: it must not re-arm the deadline then.
  let waiting = true;
  const armUpload = (ms: number | undefined, what: string) => {
    if (waiting) arm(ms, what);
  };
  const headers: Record<string, string> = { ...request.headers };
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers, signal };
  const source = opts.body;
  if (source) {
    let body = source.open();
    if (body instanceof ReadableStream) {
      body = body.pipeThrough(guardUpload({ timeoutMs: ctx.timeoutMs, size: source.size, arm: armUpload, onProgress: opts.onProgress }));
      init.duplex = 'half';
    }
    init.body = body;
  }
  arm(ctx.timeoutMs, 'no answer');
  const alive = opts.whileAlive ? keepDeadline(ctx, { node, arm, waiting: () => waiting }) : undefined;
  const track = ctx.state.begin(node.id);
  ctx.onRequest?.({ method: request.method, url, node: node.url, nodeId: node.id });
  const started = performance.now();
  let res: Response;
  try {
    res = await ctx.fetch(url, init);
  } catch (err) {
    waiting = false;
    clearInterval(alive);
    clearTimeout(timer);
    track.answered({ failed: true });
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    const reason = controller.signal.aborted ? controller.signal.reason : err;
    throw new NuvemNetworkError(node.url, { cause: reason });
  }
  waiting = false;
  clearInterval(alive);
  arm(undefined, '');
  // Reads measure the node; a change's answer waits for its replicas (write concern), so it measures the cluster.
  const sample = request.method === 'GET' || request.method === 'HEAD';
  // 500, 502 and 504 say the node (or a proxy before it) is in trouble; a
  // 503 is a node that answered promptly that it cannot do this one thing
  // (behind on a version, write concern, draining).
  if (res.status === 500 || res.status === 502 || res.status === 504) track.answered({ failed: true });
  else track.answered(sample ? { latencyMs: performance.now() - started } : {});
  ctx.state.onAnswered(node.id);
  const nodeId = res.headers.get('x-nuvem-node') ?? (node.id !== node.url ? node.id : null);
  ctx.onResponse?.({ method: request.method, url, status: res.status, node: node.url, nodeId });
  return {
    res,
    node,
    ambiguous: false,
    abort: (reason) => controller.abort(reason),
    arm,
    finish: () => {
      clearTimeout(timer);
      track.finished();
    },
  };
}

/**
 * Probes `node`'s `/health` every few seconds while the answer is awaited;
 * each answer moves the deadline (`arm`) on. A node that stops answering
 * even that is given up after `timeoutMs` as before.
 */
function keepDeadline(ctx: SendContext, options: { node: NodeView; arm: (ms: number, what: string) => void; waiting: () => boolean }): ReturnType<typeof setInterval> {
  const everyMs = Math.max(250, Math.min(5000, ctx.timeoutMs / 2));
  return setInterval(() => {
    ctx.fetch(joinUrl(options.node.url, '/health'), { signal: AbortSignal.timeout(ctx.timeoutMs) }).then(
      (res) => {
        void res.body?.cancel();
        if (options.waiting()) options.arm(ctx.timeoutMs, 'no answer (and none to /health)');
      },
      () => {},
    );
  }, everyMs);
}

/** Counts upload progress and keeps the deadline moving while chunks flow. */
function guardUpload(options: {
  timeoutMs: number;
  size: number | undefined;
  arm: (ms: number | undefined, what: string) => void;
  onProgress?: (sent: number) => void;
}): TransformStream<Uint8Array, Uint8Array> {
  const { timeoutMs, size, arm, onProgress } = options;
  let sent = 0;
  return new TransformStream({
    transform(chunk, controller) {
      arm(timeoutMs, 'the upload stalled: no bytes taken');
      controller.enqueue(chunk);
      sent += chunk.byteLength;
      onProgress?.(sent);
    },
    flush() {
      arm(timeoutMs + answerAllowanceMs(size ?? sent), 'no answer after the upload');
    },
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
