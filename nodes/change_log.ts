/**
 * The node's change log: one JSON line per committed change in
 * `DATA/.nuvem/change_log.jsonl`, for people (`tail -f`, `jq`) and tools.
 *
 * Appending never blocks and never throws: lines go to a queue, one writer
 * appends them in order through one open handle, and lines that arrive while
 * a write runs go out together in the next one. A line reaches the file as
 * soon as the write before it ends (there is no flush timer). The file is
 * rotated at `maxBytes` (`change_log.jsonl` → `.1` → `.2` → `.3`, the oldest
 * dropped), so the log never grows without bound. Errors are logged once per
 * kind and the lines they concern are dropped: the store's writes matter more.
 */
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** A logger: one line per call, with a level and optional fields. */
export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

/** What happened to a path, as the change log says it. */
export type ChangeType = 'created' | 'modified' | 'deleted' | 'moved';

/** The store's change operations. */
export type ChangeOp = 'put' | 'delete' | 'move' | 'mkcol';

/** One committed change, as given to {@linkcode ChangeLog.append}. */
export interface ChangeEntry {
  /** ISO time; the time of the append when left out. */
  time?: string;
  type: ChangeType;
  path: string;
  /** The old path of a move. */
  from?: string;
  kind: 'file' | 'folder';
  size?: number;
  sha256?: string;
  /** Where the change came from: `api`, `folder` (the watched files folder) or `peer:<node id>`; `sync` for `nuvem sync`. */
  source: string;
  version?: string;
  /** `nuvem sync` only: `up` (local to cluster) or `down` (cluster to local). */
  direction?: 'up' | 'down';
}

/** Options of a {@linkcode ChangeLog}. */
export interface ChangeLogOptions {
  /** The folder that holds the log, e.g. `DATA/.nuvem`; created if missing. */
  folder: string;
  /** Default `change_log.jsonl`. */
  fileName?: string;
  /** Rotate once the file would grow past this. Default 16 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`.1` newest … `.N` oldest). Default 3. */
  keep?: number;
  /** Lines waiting for the disk beyond this are dropped (a stuck disk must not eat memory). Default 100 000. */
  maxQueued?: number;
  log?: Log;
}

/**
 * Maps a store change to the change log's type.
 *
 * | op      | a live record existed before | type       |
 * |---------|------------------------------|------------|
 * | `put`   | no (none, or a tombstone)    | `created`  |
 * | `put`   | yes                          | `modified` |
 * | `delete`| either                       | `deleted`  |
 * | `move`  | either                       | `moved`    |
 * | `mkcol` | either                       | `created`  |
 *
 * A tombstone does not count as existing: writing a deleted path again
 * creates it. `mkcol` always says `created`: making a folder that is already
 * there is refused before it becomes a change.
 *
 * @example
 * changeType('put', false); // 'created'
 * changeType('put', true); // 'modified'
 */
export function changeType(op: ChangeOp, prevExisted: boolean): ChangeType {
  switch (op) {
    case 'put':
      return prevExisted ? 'modified' : 'created';
    case 'delete':
      return 'deleted';
    case 'move':
      return 'moved';
    case 'mkcol':
      return 'created';
  }
}

/** The JSON line of an entry, fields always in the same order. */
function toLine(entry: ChangeEntry): string {
  const { time, type, path, from, kind, size, sha256, source, version, direction } = entry;
  const record = { time: time ?? new Date().toISOString(), type, path, from, kind, size, sha256, source, version, direction };
  return JSON.stringify(record) + '\n';
}

/**
 * Appends committed changes to a JSON Lines file, in order, with rotation.
 *
 * @example
 * const changes = new ChangeLog({ folder: join(dataDir, '.nuvem'), log });
 * changes.append({ type: 'created', path: 'a.txt', kind: 'file', size: 3, sha256, source: 'api', version });
 * await changes.close(); // flushes
 */
export class ChangeLog {
  /** The current file's path. */
  readonly path: string;
  readonly #folder: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #maxQueued: number;
  readonly #log: Log;
  readonly #logged = new Set<string>();
  #queue: string[] = [];
  #writing: Promise<void> | undefined;
  #handle: FileHandle | undefined;
  #size = 0;
  #closed = false;

  constructor(options: ChangeLogOptions) {
    this.#folder = options.folder;
    this.path = join(options.folder, options.fileName ?? 'change_log.jsonl');
    this.#maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.#keep = options.keep ?? 3;
    this.#maxQueued = options.maxQueued ?? 100_000;
    this.#log = options.log ?? (() => {});
  }

  /** Queues one change; returns at once and never throws. */
  append(entry: ChangeEntry): void {
    if (this.#closed) return this.#once('warn', 'closed', 'A change came after the change log was closed; not logged');
    if (this.#queue.length >= this.#maxQueued) {
      return this.#once('warn', 'queue_full', 'The change log cannot keep up with the disk; changes are left out of it', {
        maxQueued: this.#maxQueued,
      });
    }
    let line: string;
    try {
      line = toLine(entry);
    } catch (error) {
      return this.#failed('serialize', error);
    }
    this.#queue.push(line);
    this.#kick();
  }

  /** Resolves once every line appended so far is written (or dropped on an error). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Writes what is queued, then closes the file. Later appends are not logged. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#closeHandle();
  }

  #kick(): void {
    if (this.#writing) return;
    this.#writing = this.#drain()
      .catch((error) => this.#failed('write', error))
      .finally(() => {
        this.#writing = undefined;
        if (this.#queue.length > 0) this.#kick();
      });
  }

  /** Writes batches until the queue is empty; a batch is everything queued when it starts. */
  async #drain(): Promise<void> {
    await null; // lines appended in the same turn go out in one write
    while (this.#queue.length > 0) {
      const lines = this.#queue;
      this.#queue = [];
      try {
        await this.#writeLines(lines);
      } catch (error) {
        this.#failed('write', error, lines.length);
        await this.#closeHandle(); // reopened by the next batch
      }
    }
  }

  /** Writes lines, rotating first whenever the next line would pass `maxBytes`. */
  async #writeLines(lines: string[]): Promise<void> {
    await this.#open(); // knows the size of a file left by an earlier run
    let chunk = '';
    let bytes = 0;
    for (const line of lines) {
      const n = Buffer.byteLength(line);
      if (this.#size + bytes + n > this.#maxBytes && this.#size + bytes > 0) {
        if (bytes > 0) await this.#write(chunk, bytes);
        chunk = '';
        bytes = 0;
        await this.#rotate();
      }
      chunk += line;
      bytes += n;
    }
    if (bytes > 0) await this.#write(chunk, bytes);
  }

  async #write(text: string, bytes: number): Promise<void> {
    const handle = await this.#open();
    await handle.appendFile(text);
    this.#size += bytes;
  }

  async #open(): Promise<FileHandle> {
    if (this.#handle) return this.#handle;
    await mkdir(this.#folder, { recursive: true });
    const handle = await open(this.path, 'a');
    try {
      this.#size = (await handle.stat()).size;
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.#handle = handle;
    return handle;
  }

  /** `.N-1` → `.N` … current → `.1`; the oldest is dropped. */
  async #rotate(): Promise<void> {
    await this.#closeHandle();
    this.#size = 0;
    const name = (i: number) => (i === 0 ? this.path : `${this.path}.${i}`);
    try {
      await ignoreMissing(unlink(name(this.#keep)));
      for (let i = this.#keep - 1; i >= 0; i--) await ignoreMissing(rename(name(i), name(i + 1)));
    } catch (error) {
      this.#failed('rotate', error); // keep appending to the current file
    }
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (!handle) return;
    try {
      await handle.close();
    } catch (error) {
      this.#failed('close', error);
    }
  }

  #failed(op: string, error: unknown, lines?: number): void {
    const code = (error as NodeJS.ErrnoException)?.code ?? 'error';
    this.#once('error', `${op}:${code}`, `Cannot ${op} the change log ${this.path}: ${String((error as Error)?.message ?? error)}`, {
      code,
      ...(lines === undefined ? {} : { droppedLines: lines }),
    });
  }

  /** Logs a problem the first time it happens, then stays quiet about that kind. */
  #once(level: 'warn' | 'error', kind: string, msg: string, fields: object = {}): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    this.#log(level, msg, { kind, ...fields });
  }
}

async function ignoreMissing(step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
