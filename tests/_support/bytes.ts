/** Hashes, deterministic pseudo-random bytes and small byte helpers for tests. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 of a file read straight from disk, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `sha-256=:<base64>:` (RFC 9530) for hex SHA-256. */
export function contentDigest(shaHex: string): string {
  return `sha-256=:${Buffer.from(shaHex, 'hex').toString('base64')}:`;
}

/** mulberry32: a small seeded PRNG giving floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` pseudo-random bytes from `seed` (the same seed gives the same bytes). */
export function randomBytesFrom(seed: number, size: number): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(size);
  let i = 0;
  for (; i + 4 <= size; i += 4) out.writeUInt32LE(Math.floor(next() * 4294967296), i);
  for (; i < size; i++) out[i] = Math.floor(next() * 256);
  return out;
}
