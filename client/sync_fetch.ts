/**
 * How `nuvem sync` fetches a file the cluster changed: from a node that
 * already holds those bytes, checked against the record the plan expects,
 * into a temp file (fsynced) that the caller renames into place.
 *
 * - The first attempt goes to the client's own node if it holds the version
 *   already, else to the version's origin (the node that accepted the
 *   change, named in its version and in its notice): a mirror bound to
 *   node-2 gets a file written through node-1 as soon as node-1 has
 *   committed it, without waiting for node-2 to replicate it.
 * - What arrives is hashed once, as it is written. When the node served the
 *   version the plan expects, its size and SHA-256 must be the plan's (the
 *   notice's or the listing's record); a newer version must match what its
 *   own answer announced. Bytes that fail, or a first attempt that fails in
 *   any other way, are fetched again by the client's normal choice, the
 *   node that served bad bytes left out — up to `ATTEMPTS` in all.
 * - Written in chunks of at least 1 MiB (one `writev` for many network
 *   chunks), then fsynced: the rename that follows never exposes a file
 *   that a crash could leave half-written.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { DigestMismatchError, NuvemHttpError } from './errors.ts';
import type { NuvemClient } from './mod.ts';
import { recordFromHeaders } from './records.ts';
import type { NuvemEntry } from './types.ts';
import { parseVersion } from '../protocol/version.ts';

/** The record a download is expected to bring (from a notice or a listing). */
export interface Expected {
  version: string;
  size: number;
  sha256: string;
}

export interface Fetched {
  size: number;
  sha256: string;
  /** The record the serving node announced (version, modified…). */
  served: NuvemEntry;
  /** The node that served the bytes, when it said. */
  node: string | undefined;
}

export interface FetchOptions {
  client: NuvemClient;
  /** The remote path. */
  remote: string;
  /** Where the bytes go (created; the caller removes it). */
  temp: string;
  expected?: Expected;
  signal: AbortSignal;
  /** Told about each attempt that failed and is tried again elsewhere. */
  onRetry?: (info: { node: string | undefined; error: Error }) => void;
}

const ATTEMPTS = 3;
const WRITE_BYTES = 1024 * 1024;
const SYNC_BYTES = 16 * 1024 * 1024;

/** The served bytes are not the record they should be (size or SHA-256). */
export class ContentMismatchError extends DigestMismatchError {}

/** Fetches `remote` into `temp`, verified; throws the last failure when every attempt failed. */
export async function fetchVerified(options: FetchOptions): Promise<Fetched> {
  const { client, expected, signal } = options;
  const origin = expected ? parseVersion(expected.version)?.node : undefined;
  const bad: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const first = attempt === 0;
    let node: string | undefined;
    try {
      const res = await client.get(options.remote, { signal, from: first ? origin : undefined, exclude: bad, unverified: true });
      node = res.headers.get('x-nuvem-node') ?? undefined;
      const served = recordFromHeaders(options.remote, res.headers);
      const want = expected && served.version === expected.version ? expected : { size: served.size, sha256: served.sha256 };
      const { size, sha256 } = await writeHashed(res.body, { temp: options.temp, signal });
      if (size !== want.size || (want.sha256 !== '' && sha256 !== want.sha256)) {
        throw new ContentMismatchError(`the download of "${options.remote}" from ${node ?? 'a node'}`, {
          expected: `${want.sha256} (${want.size} bytes)`, actual: `${sha256} (${size} bytes)`,
        });
      }
      return { size, sha256, served, node };
    } catch (err) {
      if (signal.aborted) throw err;
      const badBytes = err instanceof DigestMismatchError;
      // A refusal that means the path moved on (404, 409, 412) is the plan's business, not another node's.
      const refusal = err instanceof NuvemHttpError && [404, 409, 412].includes(err.status) && !first;
      if (refusal || attempt + 1 >= ATTEMPTS || (!badBytes && !first)) throw err;
      if (badBytes && node) bad.push(node);
      options.onRetry?.({ node, error: err as Error });
    }
  }
}

/** Streams `body` into a new file `temp` in writes of at least 1 MiB, hashing it, and fsyncs it. */
async function writeHashed(body: ReadableStream<Uint8Array> | null, options: { temp: string; signal: AbortSignal }) {
  const hash = createHash('sha256');
  let size = 0;
  const file = await open(options.temp, 'w');
  try {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      let chunks = pending;
      pending = [];
      pendingBytes = 0;
      while (chunks.length > 0) {
        let { bytesWritten } = await file.writev(chunks);
        while (chunks.length > 0 && bytesWritten >= chunks[0].byteLength) bytesWritten -= chunks.shift()!.byteLength;
        if (bytesWritten > 0) chunks = [chunks[0].subarray(bytesWritten), ...chunks.slice(1)];
      }
    };
    // Written data is flushed to disk in the background as it comes (every SYNC_BYTES), so the fsync
    // at the end waits for the last part only, not for the whole file.
    let syncing: Promise<void> | undefined;
    let syncError: unknown;
    let unsynced = 0;
    try {
      if (body) {
        for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
          options.signal.throwIfAborted();
          hash.update(chunk);
          size += chunk.byteLength;
          pending.push(chunk);
          pendingBytes += chunk.byteLength;
          if (pendingBytes < WRITE_BYTES) continue;
          unsynced += pendingBytes;
          await flush();
          if (unsynced >= SYNC_BYTES && syncing === undefined) {
            unsynced = 0;
            // A write-back error is told to one fsync only: kept, and thrown below.
            syncing = file.datasync().catch((err) => void (syncError ??= err)).finally(() => (syncing = undefined));
          }
        }
      }
      await flush();
    } finally {
      await syncing;
    }
    if (syncError !== undefined) throw syncError;
    await file.sync();
  } finally {
    await file.close();
  }
  return { size, sha256: hash.digest('hex') };
}
