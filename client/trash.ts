/**
 * The trash from the client (DESIGN.md 2, README "The trash"): what is still
 * restorable at or under a path (`GET /trash/{path}`, every page), and a
 * restore (`POST /trash/{path}`), which writes the deleted version back as a
 * new version. Erasing for good is `remove(path, { purge: true })`.
 *
 * @example
 * for (const e of await nuvem.trash('docs')) console.log(e.path, e.deleted);
 * await nuvem.restore('docs/report.pdf');
 */
import { call, readJson, servedBy, type ClientContext } from './context.ts';
import { encodeRemote, normalizeRemote, withQuery } from './paths.ts';
import type { NuvemRequest } from './requests.ts';
import type { NuvemRecord, WriteConcern } from './types.ts';

/** A deleted file that can still be restored. */
export interface TrashEntry {
  path: string;
  type: 'file';
  /** Size of the version a restore brings back. */
  size: number;
  sha256: string;
  contentType?: string;
  /** When it was deleted (ms since the epoch). */
  deleted: number;
  /** When it leaves the trash for good (ms since the epoch). */
  expires: number;
  /** The version a restore brings back (the last live one). */
  version: string;
  /** The version of the delete. */
  deletedVersion: string;
}

export interface RestoreOptions {
  /** Restore this kept version instead of the last live one. */
  version?: string;
  w?: WriteConcern;
  signal?: AbortSignal;
}

export interface Trash {
  /** What is in the trash at `remote` or under it (`''`: all of it), following every page. */
  trash(remote?: string, options?: { signal?: AbortSignal }): Promise<TrashEntry[]>;
  /** Brings back what is in the trash at `remote` (a file, or a folder's files); resolves to the new records. */
  restore(remote: string, options?: RestoreOptions): Promise<NuvemRecord[]>;
}

export function trashListRequest(path: string, options: { cursor?: string } = {}): NuvemRequest {
  return { method: 'GET', target: withQuery(`/trash/${encodeRemote(path)}`, { cursor: options.cursor || undefined }), headers: { accept: 'application/json' } };
}

export function restoreRequest(path: string, options: Pick<RestoreOptions, 'version' | 'w'> = {}): NuvemRequest {
  return { method: 'POST', target: withQuery(`/trash/${encodeRemote(path)}`, { version: options.version, w: options.w }), headers: {} };
}

export function createTrash(ctx: ClientContext): Trash {
  async function trash(remote = '', opts: { signal?: AbortSignal } = {}): Promise<TrashEntry[]> {
    const path = normalizeRemote(remote, { root: true });
    const all: TrashEntry[] = [];
    let cursor: string | undefined;
    do {
      const sent = await call(ctx, trashListRequest(path, { cursor }), { policy: 'read', path, signal: opts.signal });
      const page = (await readJson(sent, `the trash of "${path}"`)) as { entries?: TrashEntry[]; next_cursor?: string };
      if (!Array.isArray(page?.entries)) throw new TypeError(`Cannot read the trash of "${path}": no entries in the answer`);
      all.push(...page.entries);
      cursor = page.next_cursor || undefined;
    } while (cursor);
    return all;
  }

  async function restore(remote: string, opts: RestoreOptions = {}): Promise<NuvemRecord[]> {
    const path = normalizeRemote(remote);
    const sent = await call(ctx, restoreRequest(path, opts), { policy: 'once', path, signal: opts.signal });
    const node = servedBy(sent);
    const answer = (await readJson(sent, `the restore of "${path}"`)) as { restored?: NuvemRecord[]; replicas?: string[] };
    const restored = answer?.restored ?? [];
    for (const r of restored) {
      ctx.state.onWrite({ path: r.path, version: r.version, origin: r.origin, seq: r.seq, deleted: false, replicas: answer.replicas, node });
    }
    return restored;
  }

  return { trash, restore };
}
