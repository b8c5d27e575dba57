/**
 * The remote side of `nuvem sync`: what the cluster holds under the synced
 * remote folder, as the planner's `remote` map (`sync_types.ts`), kept up to
 * date between full listings from change notices and from the mirror's own
 * writes. No I/O.
 *
 * - Paths are relative to the remote folder. Folders that exist only
 *   because something is inside them (implicit folders: no record of their
 *   own) are entries with version `''`; they appear and vanish with their
 *   contents.
 * - Every path keeps the rank of the newest record seen (`nodes/conflict.ts`:
 *   a live record ranks by version, a tombstone just after the version it
 *   deleted), tombstones included, so a late or repeated notice never undoes
 *   a newer one, and the mirror's own writes never come back as changes.
 *   A live entry's rank is its own version and is not stored apart (100 000
 *   entries, no 100 000 rank objects); only tombstones and the ranks of
 *   entries dropped with their folder are.
 * - A full listing replaces the view, except where the view knows a newer
 *   record (the listing's node may be behind), and except for paths absent
 *   from the listing that got a notice since the previous listing.
 * - Lineage: notices say which version each one replaced (`prev`). When this
 *   mirror's write was replaced by a version that descends from the version
 *   the write itself replaced (two writes from the same base on two nodes;
 *   the store keeps the loser as a revision), {@linkcode RemoteView.lostWrite}
 *   says so, and the mirror treats the local file as a conflict instead of
 *   downloading over it.
 *
 * @example
 * const view = new RemoteView();
 * view.replace(await listRemote(client, { root: 'photos' }));
 * view.apply('a.jpg', { kind: 'file', size: 3, sha256, version, deleted: false });
 */
import { wins, type Rankable } from '../nodes/conflict.ts';
import type { ChangeMessage } from '../protocol/messages.ts';
import type { NodeReport } from './cluster_state.ts';
import type { BaseEntry, EntryKind, RemoteEntry } from './sync_types.ts';

/** A record as a notice, a listing or an answer gives it, relative to the remote folder. */
export interface RemoteRecord {
  kind: EntryKind;
  size: number;
  sha256: string;
  version: string;
  deleted: boolean;
  /** The version this change replaced (notices only; tombstones: the version deleted). */
  prev?: string;
}

/** A live record of a listing: a base entry that matches it serves as it is (no second object and strings per path). */
export type ListedRecord = RemoteEntry & { deleted?: boolean };

/** A rank above any real tombstone of the same deleted version: for deletes this mirror made (the answer has no version). */
const OWN_TOMBSTONE = '\uffff';
const MAX_REMEMBERED = 20_000;

export class RemoteView {
  readonly #entries = new Map<string, RemoteEntry>();
  /** Direct children per folder path (`''` for the top), to let implicit folders vanish with their last child. */
  readonly #children = new Map<string, number>();
  /** Ranks not implied by a live entry: tombstones, and entries dropped with their folder. */
  readonly #ranks = new Map<string, Rankable>();
  /** Paths that got a notice since the last full listing. */
  #touched = new Set<string>();
  /** path → (version → the version it replaced, `''` for none), from notices. */
  readonly #prevs = new Map<string, Map<string, string>>();
  /** path → this mirror's last write there and the version it replaced (`undefined` while unknown). */
  readonly #own = new Map<string, { version: string; parent: string | undefined }>();

  /** The current view, for the planner. */
  get entries(): ReadonlyMap<string, RemoteEntry> {
    return this.#entries;
  }

  get(path: string): RemoteEntry | undefined {
    return this.#entries.get(path);
  }

  /** Replaces the view with a full listing (live records only), keeping what the view knows to be newer. */
  replace(listing: ReadonlyMap<string, ListedRecord>): void {
    const touched = this.#touched;
    this.#touched = new Set();
    const kept = new Map<string, RemoteEntry | undefined>();
    const keep = (path: string, rank: Rankable) => {
      const listed = listing.get(path);
      if (listed ? wins(rank, { version: listed.version, deleted: false }) : touched.has(path)) kept.set(path, this.#entries.get(path));
    };
    for (const [path, rank] of this.#ranks) keep(path, rank);
    for (const [path, entry] of this.#entries) if (entry.version !== '' && !this.#ranks.has(path)) keep(path, { version: entry.version, deleted: false });
    this.#entries.clear();
    this.#children.clear();
    for (const [path, rank] of this.#ranks) if (!rank.deleted && !kept.has(path)) this.#ranks.delete(path);
    for (const [path, record] of listing) {
      if (kept.has(path) || record.deleted) continue;
      this.#set(path, reusable(record) ? record : entryOf(record)); // a listing's record serves as it is: no second object per path
      this.#ranks.delete(path);
    }
    for (const [path, entry] of kept) if (entry) this.#set(path, entry);
    this.#forgetTombstones();
  }

  /**
   * Starts the view from the last synced state (every base entry is what the
   * cluster held when it was synced), for a mirror that resumes a node's
   * change feed instead of listing: the feed's changes are then applied on
   * top with {@linkcode RemoteView.apply}. Only into an empty view.
   */
  seed(base: ReadonlyMap<string, BaseEntry>): void {
    if (this.#entries.size > 0 || this.#ranks.size > 0) throw new Error('Cannot seed a remote view that holds entries already');
    for (const [path, b] of base) this.#set(path, b); // the base entry serves as it is (a RemoteEntry and more)
  }

  /** Whether the view holds nothing yet (no listing, no notice). */
  get empty(): boolean {
    return this.#entries.size === 0 && this.#ranks.size === 0;
  }

  /**
   * A record from a change notice (or an answer): applied when it ranks
   * above what the view has. Returns whether it was newer.
   */
  apply(path: string, record: RemoteRecord): boolean {
    this.#touched.add(path);
    if (this.#touched.size > MAX_REMEMBERED) this.#touched.clear();
    if (!record.deleted) this.#notePrev(path, record.version, record.prev ?? '');
    const rank = rankOf(record);
    const current = this.#rankAt(path);
    if (current && !wins(rank, current)) return false;
    if (record.deleted) {
      this.#ranks.set(path, rank);
      this.#drop(path);
    } else {
      this.#ranks.delete(path);
      this.#set(path, entryOf(record));
    }
    return true;
  }

  /**
   * A fresh answer about `path` (a `HEAD` or a listing of its folder):
   * `undefined` means the path holds nothing now. A record is applied like a
   * notice; absence removes the entry whatever its rank.
   */
  observe(path: string, record: RemoteRecord | undefined): void {
    if (record) {
      this.apply(path, record);
      return;
    }
    const current = this.#entries.get(path);
    if (!current) return;
    if (current.version !== '') this.#ranks.set(path, { version: OWN_TOMBSTONE, deleted: true, prev: current.version });
    this.#drop(path);
  }

  /** Holds `entry` (a base entry) in place of an entry equal to it: one object per path where both agree. */
  share(path: string, entry: RemoteEntry): void {
    const current = this.#entries.get(path);
    if (current !== undefined && current !== entry && current.kind === entry.kind && current.version === entry.version &&
      current.sha256 === entry.sha256 && current.size === entry.size) this.#entries.set(path, entry);
  }

  /** This mirror wrote `record` at `path`, replacing version `parent` (`undefined` when it created the path). */
  wrote(path: string, record: RemoteRecord, options: { parent?: string } = {}): void {
    this.apply(path, record);
    if (record.deleted || record.kind !== 'file') return;
    const parent = options.parent ?? this.#prevs.get(path)?.get(record.version);
    this.#own.set(path, { version: record.version, parent });
    if (this.#own.size > MAX_REMEMBERED) this.#own.delete(this.#own.keys().next().value!);
  }

  /** This mirror deleted version `prev` of `path` (or moved it away). */
  deleted(path: string, prev: string): void {
    this.#own.delete(path);
    if (prev === '') return this.observe(path, undefined);
    this.apply(path, { kind: 'file', size: 0, sha256: '', version: OWN_TOMBSTONE, deleted: true, prev });
  }

  /**
   * Whether the remote version at `path` replaced this mirror's last write
   * there without building on it: the two were written from the same base,
   * and the mirror's lost. Only when `base` is that write.
   */
  lostWrite(path: string, base: BaseEntry | undefined): boolean {
    const own = this.#own.get(path);
    const remote = this.#entries.get(path);
    if (!own || !base || !remote || base.version !== own.version || remote.version === own.version) return false;
    const parent = own.parent ?? this.#prevs.get(path)?.get(own.version);
    if (parent === undefined) return false;
    const prevs = this.#prevs.get(path);
    let version = remote.version;
    for (let step = 0; step < 64; step++) {
      const prev = prevs?.get(version);
      if (prev === undefined || prev === own.version) return false;
      if (prev === parent) return true;
      version = prev;
    }
    return false;
  }

  #notePrev(path: string, version: string, prev: string): void {
    let prevs = this.#prevs.get(path);
    if (!prevs) {
      prevs = new Map();
      this.#prevs.set(path, prevs);
      if (this.#prevs.size > MAX_REMEMBERED) this.#prevs.delete(this.#prevs.keys().next().value!);
    }
    prevs.set(version, prev);
    if (prevs.size > 16) prevs.delete(prevs.keys().next().value!);
  }

  /** The rank of what the view knows at `path`: a stored one, else the live entry's version (none for implicit folders). */
  #rankAt(path: string): Rankable | undefined {
    const stored = this.#ranks.get(path);
    if (stored) return stored;
    const entry = this.#entries.get(path);
    return entry && entry.version !== '' ? { version: entry.version, deleted: false } : undefined;
  }

  /** Keeps the ranks of at most MAX_REMEMBERED deleted paths (the oldest go first). */
  #forgetTombstones(): void {
    let extra = this.#ranks.size - MAX_REMEMBERED;
    for (const [path, rank] of this.#ranks) {
      if (extra <= 0) return;
      if (rank.deleted) {
        this.#ranks.delete(path);
        extra--;
      }
    }
  }

  /** Sets an entry, creating its implicit parent folders. */
  #set(path: string, entry: RemoteEntry): void {
    if (!this.#entries.has(path)) {
      const parent = parentOf(path);
      this.#children.set(parent, (this.#children.get(parent) ?? 0) + 1);
      if (parent !== '' && !this.#entries.has(parent)) this.#set(parent, { kind: 'folder', size: 0, sha256: '', version: '' });
    }
    this.#entries.set(path, entry);
  }

  /** Removes an entry and everything under it; implicit parents left empty go too. */
  #drop(path: string): void {
    if (!this.#entries.has(path)) return;
    if ((this.#children.get(path) ?? 0) > 0) {
      for (const [other, entry] of [...this.#entries]) {
        if (!other.startsWith(`${path}/`)) continue;
        this.#entries.delete(other);
        // Its rank outlives it, so a late notice of an older version does not bring it back.
        if (entry.version !== '' && !this.#ranks.has(other)) this.#ranks.set(other, { version: entry.version, deleted: false });
      }
      for (const folder of [...this.#children.keys()]) if (folder === path || folder.startsWith(`${path}/`)) this.#children.delete(folder);
    }
    this.#entries.delete(path);
    const parent = parentOf(path);
    const left = (this.#children.get(parent) ?? 1) - 1;
    if (left > 0) this.#children.set(parent, left);
    else {
      this.#children.delete(parent);
      if (parent !== '' && this.#entries.get(parent)?.version === '') this.#drop(parent);
    }
  }
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function rankOf(record: RemoteRecord): Rankable {
  return record.deleted ? { version: record.version, deleted: true, prev: record.prev } : { version: record.version, deleted: false };
}

/** Whether a live record already has an entry's shape (a folder's size and sha256 empty). */
function reusable(record: RemoteEntry): boolean {
  return record.kind === 'file' || (record.size === 0 && record.sha256 === '');
}

function entryOf(record: RemoteEntry): RemoteEntry {
  return record.kind === 'folder'
    ? { kind: 'folder', size: 0, sha256: '', version: record.version }
    : { kind: 'file', size: record.size, sha256: record.sha256, version: record.version };
}

/** `photos/a.jpg` under remote folder `photos` → `a.jpg`; undefined outside it (or the folder itself). */
export function relativeRemote(root: string, path: string): string | undefined {
  if (root === '') return path === '' ? undefined : path;
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

/** The cluster's path of a path relative to the remote folder. */
export function absoluteRemote(root: string, path: string): string {
  return root === '' ? path : `${root}/${path}`;
}

/**
 * Whether every online node holds the last change of every other online
 * node (freshness rule, DESIGN.md section 4): then a listing from any of
 * them misses nothing that was announced.
 */
export function clusterCaughtUp(nodes: readonly Pick<NodeReport, 'id' | 'state' | 'seq' | 'applied'>[]): boolean {
  const online = nodes.filter((n) => n.state === 'online');
  return online.every((n) => online.every((o) => o.id === n.id || (n.applied?.[o.id] ?? 0) >= (o.seq ?? 0)));
}

/**
 * What a change notice says about paths under the remote folder `root`:
 * the record at its path, and for a move the tombstone it left at `from`
 * (ranked just after the version moved away).
 */
export function recordsOfChange(root: string, change: ChangeMessage): [string, RemoteRecord][] {
  const kind = change.type === 'folder' ? 'folder' : 'file';
  const out: [string, RemoteRecord][] = [];
  const path = relativeRemote(root, change.path);
  if (path !== undefined) {
    out.push([path, { kind, size: change.size, sha256: change.sha256, version: change.version, deleted: change.deleted, prev: change.prev }]);
  }
  const from = change.from === undefined ? undefined : relativeRemote(root, change.from);
  if (from !== undefined) out.push([from, { kind, size: 0, sha256: '', version: change.version, deleted: true, prev: change.fromPrev }]);
  return out;
}
