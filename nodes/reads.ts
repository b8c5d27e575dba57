/**
 * Reads of the local store: records, listings, file content (current or
 * kept) and content by SHA-256 for peers. Hot small files come from memory
 * (small_cache.ts); a file replaced between the index lookup and its open is
 * noticed (inode check) and read again.
 */
import { constants, promises as fsp } from 'node:fs';
import { fileStream } from './disk.ts';
import { conflict, NuvemError, notFound } from '../protocol/errors.ts';
import type { Page, Readable } from '../functions/deps.ts';
import { BLOB_MAX, publicRecord } from './index_db.ts';
import { hasChildren, listFolder } from './listing.ts';
import type { FileRecord } from '../protocol/record.ts';
import type { StoreContext } from './store_context.ts';

type ReadContext = Pick<StoreContext, 'index' | 'layout' | 'cache'>;

/** A live file or folder record; implicit folders (parents of files) get a synthetic record. */
export function statPath(ctx: ReadContext, path: string): FileRecord | { path: string; type: 'folder' } {
  const e = ctx.index.get(path);
  if (e && !e.deleted) return publicRecord(e);
  if (hasChildren(ctx.index, path)) return { path, type: 'folder' };
  throw notFound(path);
}

/** A page of a folder's listing; the folder must exist (explicitly, or as the parent of something). */
export function listPath(ctx: ReadContext, folder: string, options: { recursive: boolean; limit: number; cursor?: string }): Page {
  if (folder !== '') {
    const e = ctx.index.get(folder);
    const isFolder = (e && !e.deleted && e.type === 'folder') || hasChildren(ctx.index, folder);
    if (!isFolder) {
      throw e && !e.deleted ? conflict(`"${folder}" is a file, not a folder`) : notFound(folder);
    }
  }
  return listFolder(ctx.index, folder, options);
}

/** Opens the current version, or a kept one with `version`. */
export async function readFile(ctx: ReadContext, path: string, options: { version?: string; retried?: boolean } = {}): Promise<Readable> {
  const { index, layout } = ctx;
  const e = index.get(path);
  if (options.version !== undefined && options.version !== e?.version) {
    const kept = index.revision(path, options.version);
    if (!kept) throw new NuvemError('not_found', `No version "${options.version}" of "${path}" is kept`);
    const inIndex = kept.size <= BLOB_MAX ? index.blob(kept.sha256) : undefined;
    if (inIndex) return inMemory(kept, inIndex);
    return readable(ctx, kept, { file: layout.revPath(kept) });
  }
  if (!e || e.deleted) throw notFound(path);
  if (e.type !== 'file') throw new NuvemError('bad_request', `"${path}" is a folder; list it with GET /files/${path}/`);
  const cached = ctx.cache.get(path, e.version);
  const record = publicRecord(e);
  if (cached) return inMemory(record, cached);
  // A small file's bytes committed with its record (small_files.ts).
  const inIndex = e.size <= BLOB_MAX ? index.blob(e.sha256) : undefined;
  if (inIndex) {
    ctx.cache.set(path, e.version, inIndex);
    return inMemory(record, inIndex);
  }
  return readable(ctx, record, { file: layout.filePath(path), ino: e.local?.ino, retried: options.retried });
}

/** The current version of a small file when its bytes are in memory; no I/O. */
export function readSmall(ctx: ReadContext, path: string): { record: FileRecord; bytes: Uint8Array } | undefined {
  const e = ctx.index.get(path);
  if (!e || e.deleted || e.type !== 'file') return undefined;
  const bytes = ctx.cache.get(path, e.version);
  return bytes && { record: e, bytes };
}

/** Opens content by SHA-256 for a peer: size and a stream, or undefined. */
export async function openContent(ctx: ReadContext, sha256: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | undefined> {
  const inIndex = ctx.index.blob(sha256);
  if (inIndex) return { size: inIndex.byteLength, body: new ReadableStream({ start: (c) => (inIndex.byteLength && c.enqueue(inIndex), c.close()) }) };
  const file = ctx.layout.contentFile(sha256);
  if (!file) return undefined;
  const handle = await fsp.open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  const { size } = await handle.stat();
  if (size === 0) {
    await handle.close();
    return { size, body: new ReadableStream({ start: (c) => c.close() }) };
  }
  return { size, body: fileStream(handle, 0, size - 1) };
}

function inMemory(record: FileRecord, bytes: Uint8Array): Readable {
  return { record, open: async (start, end) => bytes.subarray(start, end + 1), close: async () => {} };
}

/**
 * `record`'s content held open from `file`. With `ino` (a current version),
 * a file replaced since the lookup is read again, and a whole small file read
 * goes into the cache; without (a kept version), a mismatch means damage.
 */
async function readable(ctx: ReadContext, record: FileRecord, options: { file: string; ino?: number; retried?: boolean }): Promise<Readable> {
  const { file, ino } = options;
  let handle: fsp.FileHandle;
  if (ino !== undefined) await ctx.layout.refuseLinks(file);
  try {
    handle = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    // A current version whose file moved between the lookup and the open (its folder renamed by a MOVE meanwhile,
    // folder_move.ts): looked up again, once, where it is now.
    if (ino !== undefined && !options.retried) return readFile(ctx, record.path, { retried: true });
    throw new NuvemError('not_found', `The content of "${record.path}" is missing on this node`);
  }
  const st = await handle.stat();
  if ((ino !== undefined && st.ino !== ino) || st.size !== record.size) {
    // Replaced between the index lookup and the open: read again, once. A
    // file that still differs from its record was changed behind the index's
    // back (by hand): it is not the version the record describes, and the
    // folder watcher or the next rescan makes it a version of its own.
    await handle.close();
    if (ino === undefined) throw new NuvemError('internal', `The kept content of "${record.path}" is damaged`);
    if (options.retried) {
      throw new NuvemError('unavailable', `"${record.path}" changed on disk behind the index and is being recorded as a new version; try again shortly`, { retryAfter: 1 });
    }
    return readFile(ctx, record.path, { retried: true });
  }
  return {
    record,
    close: () => handle.close().catch(() => {}),
    open: async (start, end) => {
      if (record.size <= ctx.cache.maxFileBytes && start === 0 && end === record.size - 1 && ino !== undefined) {
        const bytes = new Uint8Array(record.size);
        await handle.read(bytes, 0, record.size, 0);
        await handle.close();
        ctx.cache.set(record.path, record.version, bytes);
        return bytes;
      }
      return fileStream(handle, start, end);
    },
  };
}
