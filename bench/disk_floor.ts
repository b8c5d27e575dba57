/**
 * The disk's own floor for small durable writes, with no HTTP, no hashing and
 * no index: 16 concurrent writers of 4 KiB files, for a few seconds each way,
 * the two ways taking turns round by round:
 *
 * - `ref`: what the Node reference server does per PUT: temp file, write,
 *   fsync, rename over the target. One flush stage.
 * - `protocol`: the bare syscalls of Nuvem's write protocol (DESIGN.md): the
 *   same, the replaced file first hard-linked into a revisions folder, then
 *   an fsync of both folders, then a 1 KiB append to an index log made
 *   durable with fdatasync. Three flush stages, each shared
 *   the way the store shares them: a folder sync covers every rename made
 *   before it started, and a log sync every append made before it started.
 *
 * Their ratio bounds what any implementation of the protocol can reach
 * against the reference on this disk at this concurrency.
 * Run: `npm run bench:disk` (`FLOOR_SECONDS`, `FLOOR_ROUNDS`, `FLOOR_CONCURRENCY`);
 * `npm run bench` runs it too, before the servers, and prints it beside them.
 */
import { closeSync, fdatasync, fsync, linkSync, mkdirSync, mkdtempSync, open, openSync, rename, rmSync, unlinkSync, write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { flushDisk, median } from './measure.ts';

const SECONDS = Number(process.env.FLOOR_SECONDS ?? 4);
const ROUNDS = Number(process.env.FLOOR_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.FLOOR_CONCURRENCY ?? 16);
const FILES = 1000;
const BODY = Buffer.alloc(4096, 'x');
const RECORD = Buffer.alloc(1024, 'r');
const LOG_BYTES = 4 << 20;

const openP = promisify(open);
const writeP = (fd: number, b: Buffer, position: number) =>
  new Promise<void>((resolve, reject) => write(fd, b, 0, b.length, position, (err) => (err ? reject(err) : resolve())));
const fsyncP = promisify(fsync);
const fdatasyncP = promisify(fdatasync);
const renameP = promisify(rename);

/** One sync of `fd` at a time; a caller waits for the first sync that starts after it called (as the store's Syncer and GroupCommit do). */
function sharedSync(sync: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  return () => {
    if (queued) return queued;
    const next = (running ?? Promise.resolve()).then(async () => {
      queued = undefined;
      running = next;
      try {
        await sync();
      } finally {
        if (running === next) running = undefined;
      }
    });
    queued = next;
    return next;
  };
}

async function run(kind: 'ref' | 'protocol', root: string, seconds: number): Promise<number> {
  const dir = join(root, kind);
  const tmp = join(root, `${kind}-tmp`);
  mkdirSync(dir, { recursive: true });
  const revs = join(root, `${kind}-revs`);
  mkdirSync(tmp, { recursive: true });
  mkdirSync(revs, { recursive: true });
  const dirFd = openSync(dir, 'r');
  const revsFd = openSync(revs, 'r');
  const logFd = openSync(join(root, `${kind}.log`), 'w');
  await writeP(logFd, Buffer.alloc(LOG_BYTES), 0); // allocated once: appends overwrite in place, as a reused WAL does
  await fsyncP(logFd);
  const syncDir = sharedSync(() => fsyncP(dirFd));
  const syncRevs = sharedSync(() => fsyncP(revsFd));
  const syncLog = sharedSync(() => fdatasyncP(logFd));
  let logAt = 0;
  let done = 0;
  let counter = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const n = counter++;
      const temp = join(tmp, String(n));
      const fd = await openP(temp, 'wx');
      await writeP(fd, BODY, 0);
      await fsyncP(fd);
      closeSync(fd);
      const target = join(dir, `f${n % FILES}`);
      if (kind === 'protocol' && n >= FILES) {
        // Keeps the replaced content (the store keeps 10 per path; here 1, the older one unlinked).
        const rev = join(revs, `f${n % FILES}`);
        try { unlinkSync(rev); } catch { /* first replacement */ }
        linkSync(target, rev);
      }
      await renameP(temp, target);
      if (kind === 'protocol') {
        await Promise.all([syncDir(), n >= FILES ? syncRevs() : undefined]);
        await writeP(logFd, RECORD, logAt);
        logAt = (logAt + RECORD.length) % LOG_BYTES;
        await syncLog();
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  closeSync(dirFd);
  closeSync(revsFd);
  closeSync(logFd);
  return done / seconds;
}


export interface FloorResult {
  concurrency: number;
  seconds: number;
  /** Writes per second, median round, and every round. */
  ref: number;
  protocol: number;
  ref_rounds: number[];
  protocol_rounds: number[];
}

/** Both chains, taking turns round by round, in a temp folder under `dir`. */
export async function measureFloor(dir = tmpdir(), o: { rounds?: number; seconds?: number } = {}): Promise<FloorResult> {
  const root = mkdtempSync(join(dir, 'nuvem-floor-'));
  const rounds = o.rounds ?? ROUNDS;
  try {
    const got: Record<'ref' | 'protocol', number[]> = { ref: [], protocol: [] };
    for (let i = 0; i < rounds; i++) {
      for (const kind of i % 2 === 0 ? (['ref', 'protocol'] as const) : (['protocol', 'ref'] as const)) {
        flushDisk();
        got[kind].push(await run(kind, root, o.seconds ?? SECONDS));
      }
    }
    return {
      concurrency: CONCURRENCY, seconds: o.seconds ?? SECONDS,
      ref: median(got.ref), protocol: median(got.protocol), ref_rounds: got.ref, protocol_rounds: got.protocol,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function floorLines(f: FloorResult): string[] {
  const rounds = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  return [
    `4 KiB durable writes on the bare disk, no server, concurrency ${f.concurrency}, ${f.ref_rounds.length} alternating rounds of ${f.seconds} s (median):`,
    `  ref chain (write, fsync, rename)                      ${f.ref.toFixed(0).padStart(7)} /s   rounds ${rounds(f.ref_rounds)}`,
    `  protocol (+ revision link, folder fsyncs, log sync)   ${f.protocol.toFixed(0).padStart(7)} /s   rounds ${rounds(f.protocol_rounds)}`,
    `  protocol / ref chain                                  ${(f.protocol / f.ref).toFixed(2)}×`,
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(floorLines(await measureFloor(process.env.BENCH_DIR)).join('\n'));
}
