import { Agent, type IncomingMessage, request } from 'node:http';
import { NuvemError } from '../protocol/errors.ts';
import type { Member } from './membership.ts';
import { concat } from './disk.ts';

/**
 * The one HTTP client a node speaks to its peers with, and the one place that
 * adds the Bearer token (push.ts, the other, takes its header from here).
 *
 * GETs of file content (`/internal/content/{sha256}`) go over node:http with
 * kept-alive connections rather than fetch: a catch-up fetches one file per
 * change, and for 4 KiB bodies fetch cost three times the CPU per request
 * (client and server together, 16 at a time: 445-940 µs against 130-300).
 * Like push.ts, the one other place a node speaks node:http to a peer, it is
 * a seam: Deno runs it through its node:http. The other GETs (`/status`,
 * `/internal/log`, `/internal/digest`) use fetch. Requests for a member go
 * only to a URL a member announced.
 */
export class PeerGets {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 32 });
  readonly #token?: string;
  readonly #idleMs: number;
  readonly #answerMs: number;
  readonly #isMemberUrl: (url: string) => boolean;

  /**
   * `idleMs`: a content response that sends nothing for this long (headers
   * or body) fails. `isMemberUrl`: is this a URL a member announced? (None
   * is, without it.)
   */
  constructor(options: { token?: string; idleMs?: number; answerMs?: number; isMemberUrl?: (url: string) => boolean } = {}) {
    this.#token = options.token;
    this.#idleMs = options.idleMs ?? 30_000;
    this.#answerMs = options.answerMs ?? 3000;
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
   * GET `path` on `member`: its answer must begin within `answerMs` (3 s; a
   * vanished host sends no reset, and would otherwise hold the caller for the
   * whole 30 s) and end within 30 s. A status other than 2xx rejects with an
   * error carrying it.
   */
  async get(member: Member, path: string): Promise<Response> {
    const url = this.#memberUrl(member, path);
    const answer = new AbortController();
    const timer = setTimeout(() => answer.abort(new Error(`${url}: no answer within ${this.#answerMs} ms`)), this.#answerMs);
    const res = await fetch(url, {
      headers: authHeaders(this.#token),
      signal: AbortSignal.any([answer.signal, AbortSignal.timeout(30_000)]),
    }).finally(() => clearTimeout(timer));
    if (!res.ok) {
      // A refusal's JSON (small) is kept as `detail`: a 410 from /internal/log says how far the peer is.
      const detail = res.status >= 400 && res.status < 500 ? await readJson<Record<string, unknown>>(res, 64 * 1024).catch(() => undefined) : await res.body?.cancel();
      throw Object.assign(new Error(`${member.url}${path}: ${res.status}`), { status: res.status, detail });
    }
    return res;
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
