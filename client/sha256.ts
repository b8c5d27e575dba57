/**
 * Incremental SHA-256 for verifying downloads as they stream. Web Crypto
 * only hashes whole buffers, so this uses `node:crypto`, which Node and Deno
 * both provide; where it is missing (a browser), `createSha256` resolves to
 * undefined and the caller skips the check.
 *
 * @example
 * const hash = await createSha256();
 * hash?.update(chunk);
 * hash?.digestHex(); // 'e3b0c442…'
 */

export interface Sha256 {
  update(chunk: Uint8Array): void;
  digestHex(): string;
}

type CreateHash = (algorithm: string) => { update(data: Uint8Array): unknown; digest(encoding: 'hex'): string };

let loading: Promise<CreateHash | undefined> | undefined;

function loadCreateHash(): Promise<CreateHash | undefined> {
  const specifier = 'node:crypto';
  return (loading ??= import(/* @vite-ignore */ specifier).then(
    (m: { createHash?: CreateHash }) => m.createHash,
    () => undefined,
  ));
}

export async function createSha256(): Promise<Sha256 | undefined> {
  const createHash = await loadCreateHash();
  if (!createHash) return undefined;
  const hash = createHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    digestHex: () => hash.digest('hex'),
  };
}
