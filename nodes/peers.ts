import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import { Readable } from 'node:stream';
import { NuvemError } from '../protocol/errors.ts';
import type { Member } from './membership.ts';
import { concat } from './disk.ts';

/** A connection to a peer must be set up within this (a vanished host sends no reset). */
export const CONNECT_MS = 2000;

/**
 * The one HTTP client a node speaks to its peers with, and the one place that
 * adds the Bearer token (push.ts, the other, takes its header from here).
 *
 * Every GET goes over node:http with kept-alive connections rather than
 * fetch: a catch-up fetches one file per change, and for 4 KiB bodies fetch
 * cost three times the CPU per request (client and server together, 16 at a
 * time: 445-940 µs against 130-300); and node:http tells when the connection
 * is set up, so a connection to a host that vanished without a reset fails
 * after `CONNECT_MS` (2 s), whatever the answer bound. Like push.ts, the one
 * other place a node speaks node:http to a peer, it is a seam: Deno runs it
 * through its node:http. Requests for a member go only to a URL a member
 * announced.
 */
export class PeerGets {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 32 });
  readonly #token?: string;
  readonly #idleMs: number;
  readonly #answerMs: number;
  readonly #connectMs: number;
  readonly #isMemberUrl: (url: string) => boolean;

  /**
   * `idleMs`: a content response that sends nothing for this long (headers
   * or body) fails. `answerMs`: a `get` answer must begin within this (3 s).
   * `connectMs`: the connection must be set up within this (CONNECT_MS).
   * `isMemberUrl`: is this a URL a member announced? (None is, without it.)
   */
  constructor(options: { token?: string; idleMs?: number; answerMs?: number; connectMs?: number; isMemberUrl?: (url: string) => boolean } = {}) {
    this.#token = options.token;
    this.#idleMs = options.idleMs ?? 30_000;
    this.#answerMs = options.answerMs ?? 3000;
    this.#connectMs = options.connectMs ?? CONNECT_MS;
    this.#isMemberUrl = options.isMemberUrl ?? (() => false);
  }

  /**
   * The body of a 200 answer to GET `url`. Any other status rejects with an
   * error whose `status` is that status (the body is discarded).
   */
  body(url: string): Promise<AsyncIterable<Uint8Array>> {
    return new Promise((resolve, reject) => {
      const headers = authHeaders(this.#token);
      const req = request(url, { agent: this.#agent, headers }, (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(Object.assign(new Error(`${url}: ${res.statusCode}`), { status: res.statusCode }));
          return;
        }
        resolve(res);
      });
      req.setTimeout(this.#idleMs, () => req.destroy(new Error(`${url}: no bytes for ${this.#idleMs} ms`)));
      boundConnect(req, { url, ms: this.#connectMs });
      req.on('error', reject); // before the answer; after it, the body's reader sees the error
      req.end();
    });
  }

  /**
   * Content by SHA-256 from `members` in turn: each call answers the body of
   * the next member that has it, so a body that fails its hash is fetched
   * again from another member; after the last, it rejects, saying `gone`
   * when `origin` was asked and answered that it does not hold it.
   */
  source(sha256: string, options: { members: Member[]; origin?: string }): () => Promise<AsyncIterable<Uint8Array>> {
    let next = 0;
    let gone = false;
    return async () => {
      while (next < options.members.length) {
        const m = options.members[next++];
        try {
          return await this.body(this.#memberUrl(m, `/internal/content/${sha256}`));
        } catch (err) {
          if (m.id === options.origin && (err as { status?: number }).status === 404) gone = true;
        }
      }
      throw new NuvemError('unavailable', `No reachable peer holds content ${sha256}`, { gone });
    };
  }

  /**
   * GET `path` on `member`: the connection must be set up within
   * `connectMs` (2 s), its answer begin within `answerMs` (3 s; a vanished
   * host sends no reset, and would otherwise hold the caller for the whole
   * 30 s) and end within 30 s; `signal` aborts it. A status other than 2xx
   * rejects with an error carrying it.
   */
  async get(member: Member, path: string, options: { signal?: AbortSignal } = {}): Promise<Response> {
    const url = this.#memberUrl(member, path);
    const res = await this.#open(url, options.signal);
    if (!res.ok) {
      // A refusal's JSON (small) is kept as `detail`: a 410 from /internal/log says how far the peer is.
      const detail = res.status >= 400 && res.status < 500 ? await readJson<Record<string, unknown>>(res, 64 * 1024).catch(() => undefined) : await res.body?.cancel();
      throw Object.assign(new Error(`${member.url}${path}: ${res.status}`), { status: res.status, detail });
    }
    return res;
  }

  /** GET `url` as a web Response, with the bounds of `get`. */
  #open(url: string, signal: AbortSignal | undefined): Promise<Response> {
    return new Promise((resolve, reject) => {
      const req = request(url, { agent: this.#agent, headers: authHeaders(this.#token), signal }, (res: IncomingMessage) => {
        clearTimeout(answer);
        res.once('close', () => clearTimeout(whole));
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, one);
        }
        const status = res.statusCode ?? 500;
        const body = status === 204 || status === 304 ? null : Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
        if (!body) res.resume();
        resolve(new Response(body, { status, headers }));
      });
      const answer = setTimeout(() => req.destroy(new Error(`${url}: no answer within ${this.#answerMs} ms`)), this.#answerMs);
      const whole = setTimeout(() => req.destroy(new Error(`${url}: not answered whole within 30000 ms`)), 30_000);
      req.once('close', () => clearTimeout(answer));
      boundConnect(req, { url, ms: this.#connectMs });
      req.on('error', (err) => {
        clearTimeout(answer);
        clearTimeout(whole);
        reject(err);
      });
      req.end();
    });
  }

  /** GET `/status` of `url`, a URL a peer announced and not yet verified (within 3 s). */
  status(url: string): Promise<Response> {
    return fetch(`${url}/status`, { headers: authHeaders(this.#token), signal: AbortSignal.timeout(3000) });
  }

  close(): void {
    this.#agent.destroy();
  }

  /** `path` on `member`, refused unless its URL is one a member announced. */
  #memberUrl(member: Member, path: string): string {
    if (!this.#isMemberUrl(member.url)) throw new Error(`not a member URL: ${member.url}`);
    return member.url + path;
  }
}

/** Fails `req` when its connection is not set up within `ms` (a reused kept-alive connection is set up). */
function boundConnect(req: ClientRequest, options: { url: string; ms: number }): void {
  req.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => req.destroy(new Error(`${options.url}: no connection within ${options.ms} ms`)), options.ms);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}

/** The most JSON a node reads from a peer in one answer (a log page, a bucket's records, a status). */
export const MAX_PEER_JSON_BYTES = 32 * 1024 * 1024;

/**
 * A peer's JSON answer, read with a bound: a peer (or anything answering at
 * its URL) cannot make this node buffer without limit.
 */
export async function readJson<T>(res: Response, maxBytes = MAX_PEER_JSON_BYTES): Promise<T> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new Error(`a peer's answer of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`a peer's answer is over the ${maxBytes}-byte limit`);
    }
    chunks.push(chunk);
  }
  return JSON.parse(new TextDecoder().decode(concat(chunks, size))) as T;
}

/** The headers that authenticate this node to a peer: `Authorization: Bearer <token>`, or none without a token. */
export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}
