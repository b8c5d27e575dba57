/**
 * The Nuvem client library: talks HTTP to storage nodes (DESIGN.md section 3)
 * with Web-standard `fetch` and streams, so it runs on Node 20, Deno 2 and in
 * browsers.
 *
 * @example
 * const nuvem = createClient({ nodes: ['http://127.0.0.1:7001'] });
 * await nuvem.put('notes/today.txt', 'hello', { contentType: 'text/plain' });
 * const res = await nuvem.get('notes/today.txt');
 * console.log(await res.text()); // 'hello'
 * for (const entry of await nuvem.list('notes')) console.log(entry.path);
 *
 * Failures throw `NuvemHttpError` (the node's `status`, JSON `error` as
 * `code`, and `message`) or `NuvemNetworkError`. A `503` with code
 * `write_concern` to a change means the change *is stored* but not yet on as
 * many replicas as asked: treat it as stored, never send it again elsewhere.
 */
import { errorFromResponse, NuvemHttpError, NuvemNetworkError } from './errors.ts';
import { joinUrl, normalizeNodeUrl, normalizeRemote } from './paths.ts';
import { parseListPage, parseRevisions, recordFromHeaders } from './records.ts';
import {
  deleteRequest, getRequest, headRequest, isSafe, listRequest, mkcolRequest, moveRequest, putRequest,
  revisionsRequest, type NuvemRequest,
} from './requests.ts';
import { selectNodes } from './selection.ts';
import type {
  ChangeOptions, ClientOptions, FetchLike, GetOptions, ListOptions, MoveOptions, NuvemEntry, NuvemRecord,
  PutBody, PutOptions, RemoveOptions,
} from './types.ts';

export { DigestMismatchError, NuvemHttpError, NuvemNetworkError } from './errors.ts';
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
}

interface SendOptions {
  path: string;
  body?: BodyInit;
  signal?: AbortSignal;
}

/** Counts bytes as they pass, for upload progress. */
function countingStream(onProgress: (n: number) => void): TransformStream<Uint8Array, Uint8Array> {
  let sent = 0;
  return new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      sent += chunk.byteLength;
      onProgress(sent);
    },
  });
}

function byteLength(body: PutBody): number | undefined {
  if (typeof body === 'string') return new TextEncoder().encode(body).byteLength;
  if (body instanceof Uint8Array) return body.byteLength;
  if (body instanceof Blob) return body.size;
  return undefined;
}

/** The JSON body of an answer, or undefined when it is empty. */
async function readJson(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot read ${what}: the node's answer is not JSON`);
  }
}

/**
 * A client for the given nodes. Which node serves each request is decided in
 * `selection.ts`; GET and HEAD fall over to the next node on network errors
 * and 5xx answers, changes never (a change may have landed before the error).
 */
export function createClient(options: ClientOptions): NuvemClient {
  if (!options.nodes || options.nodes.length === 0) throw new TypeError('Cannot create a Nuvem client: no node URLs given');
  const nodes = options.nodes.map(normalizeNodeUrl);
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));

  /** Sends a request to the chosen node; safe requests fall over to the next node on network errors and 5xx. */
  async function send(request: NuvemRequest, opts: SendOptions): Promise<Response> {
    const candidates = selectNodes(nodes, { method: request.method, path: opts.path });
    const headers: Record<string, string> = { ...request.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let lastError: Error = new Error('no node to send to');
    for (const [i, node] of candidates.entries()) {
      const retryable = isSafe(request) && i < candidates.length - 1;
      const url = joinUrl(node, request.target);
      const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers, signal: opts.signal };
      if (opts.body !== undefined) init.body = opts.body;
      if (opts.body instanceof ReadableStream) init.duplex = 'half';
      let res: Response;
      try {
        res = await fetchFn(url, init);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        lastError = new NuvemNetworkError(node, { cause: err });
        if (retryable) continue;
        throw lastError;
      }
      options.onResponse?.({ method: request.method, url, status: res.status, node, nodeId: res.headers.get('x-nuvem-node') });
      if (res.ok) return res;
      lastError = await errorFromResponse(res, node);
      if (retryable && res.status >= 500) continue;
      throw lastError;
    }
    throw lastError;
  }

  async function* entries(folder: string, opts: ListOptions = {}): AsyncGenerator<NuvemEntry> {
    const path = normalizeRemote(folder, { root: true });
    let cursor = '';
    const seen = new Set<string>();
    do {
      const request = listRequest(path, { recursive: opts.recursive, limit: opts.limit, cursor });
      const res = await send(request, { path, signal: opts.signal });
      const page = parseListPage(await readJson(res, `the listing of "${path || '/'}"`));
      yield* page.entries;
      if (page.nextCursor !== '' && seen.has(page.nextCursor)) {
        throw new Error(`Cannot list "${path || '/'}": the node repeated cursor "${page.nextCursor}"`);
      }
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    } while (cursor !== '');
  }

  return {
    async put(remote, body, opts = {}) {
      const path = normalizeRemote(remote);
      const isStream = body instanceof ReadableStream;
      const request = putRequest(path, { ...opts, size: isStream ? opts.size : undefined });
      let sendBody: BodyInit = body as BodyInit;
      if (isStream && opts.onProgress) sendBody = body.pipeThrough(countingStream(opts.onProgress));
      const res = await send(request, { path, body: sendBody, signal: opts.signal });
      if (!isStream) opts.onProgress?.(byteLength(body) ?? 0);
      return (await readJson(res, `the record of "${path}"`)) as NuvemRecord;
    },

    async get(remote, opts = {}) {
      const path = normalizeRemote(remote);
      return await send(getRequest(path, opts), { path, signal: opts.signal });
    },

    async stat(remote, opts = {}) {
      const path = normalizeRemote(remote);
      try {
        const res = await send(headRequest(path), { path, signal: opts.signal });
        return recordFromHeaders(path, res.headers);
      } catch (err) {
        if (!(err instanceof NuvemHttpError) || err.status !== 404) throw err;
        // Not a file: a folder shows up in its parent's listing.
        const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
        try {
          for await (const entry of entries(parent, { signal: opts.signal })) {
            if (entry.path === path) return entry;
          }
        } catch (listError) {
          if (!(listError instanceof NuvemHttpError) || listError.status !== 404) throw listError;
        }
        // HEAD answers carry no body, so the node's own wording is not there to pass on.
        throw new NuvemHttpError(`No file or folder at "${path}"`, { status: 404, code: 'not_found', node: err.node });
      }
    },

    async remove(remote, opts = {}) {
      const path = normalizeRemote(remote);
      const res = await send(deleteRequest(path, opts), { path, signal: opts.signal });
      await res.body?.cancel();
    },

    async move(from, to, opts = {}) {
      const path = normalizeRemote(from);
      const request = moveRequest(path, normalizeRemote(to), opts);
      const res = await send(request, { path, signal: opts.signal });
      return (await readJson(res, `the move of "${path}"`)) as NuvemRecord | undefined;
    },

    async mkdir(remote, opts = {}) {
      const path = normalizeRemote(remote);
      const res = await send(mkcolRequest(path, opts), { path, signal: opts.signal });
      return (await readJson(res, `the folder "${path}"`)) as NuvemRecord | undefined;
    },

    async list(folder, opts = {}) {
      const all: NuvemEntry[] = [];
      for await (const entry of entries(folder, opts)) all.push(entry);
      return all;
    },

    entries,

    async revisions(remote, opts = {}) {
      const path = normalizeRemote(remote);
      const res = await send(revisionsRequest(path), { path, signal: opts.signal });
      return parseRevisions(await readJson(res, `the revisions of "${path}"`));
    },
  };
}
