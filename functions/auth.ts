/**
 * Bearer-token check (the app applies it to every route except /health). Tokens are compared as
 * SHA-256 digests in constant time, so timing tells nothing about the token.
 */
import { NuvemError } from '../protocol/errors.ts';

const encoder = new TextEncoder();

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(s)));
}

export function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** A check of `Authorization` headers against any of `tokens`; throws 401 on a missing or wrong one. */
export function bearerCheck(tokens: string | string[]): (header: string | undefined) => Promise<void> {
  const expected = Promise.all((Array.isArray(tokens) ? tokens : [tokens]).map(digest));
  return async (header) => {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    const given = m ? await digest(m[1].trim()) : undefined;
    // Every token compared, so timing tells nothing of which one (or none) matched.
    const matches = given ? (await expected).map((e) => equalDigests(given, e)) : [];
    if (!matches.includes(true)) {
      throw new NuvemError('unauthorized', m ? 'The bearer token is wrong' : 'This node needs Authorization: Bearer <token>');
    }
  };
}
