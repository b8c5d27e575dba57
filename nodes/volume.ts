/**
 * A missing volume is not a mass delete. A node's files folder is often a
 * mount of its own; unmounted, it is an empty folder (or none), and the
 * start-up check would take every file as deleted by hand and replicate the
 * tombstones to every node. So the files folder carries a marker,
 * `DATA/files/.nuvem` (a reserved name, never a path of the store), written
 * when the store is new, and a node that knows files but finds no files
 * folder, or no marker and none of its files, refuses to start with a
 * message that says what to check. `--accept-vanished` overrides it: the
 * files are then recorded as deleted.
 *
 * The start-up check and full rescans also stop before tombstoning more than
 * 10 % of the live records when that is over 100 of them (`massVanish`).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { IndexDb } from './index_db.ts';
import { UsageError } from '../protocol/errors.ts';

export const MARKER = '.nuvem';
const SAMPLE = 100;

/** Checks the files folder before the store uses it; creates it and its marker for a new store. */
export async function checkVolume(filesDir: string, index: IndexDb, options: { acceptVanished?: boolean } = {}): Promise<void> {
  const marker = join(filesDir, MARKER);
  const known = liveFiles(index, SAMPLE);
  const folder = await fsp.stat(filesDir).catch(() => undefined);
  const hasMarker = (await fsp.lstat(marker).catch(() => undefined))?.isFile() === true;
  if (known.length > 0 && !options.acceptVanished && !hasMarker) {
    if (!folder?.isDirectory()) {
      throw new UsageError(
        `The files folder ${filesDir} is missing, but this node's index knows files that should be in it: is its volume mounted? ` +
          'Nothing was changed. Start with --accept-vanished to record them all as deleted.',
      );
    }
    // A store from before markers: the right folder holds at least some of its files.
    const present = await Promise.all(known.map((path) => fsp.lstat(join(filesDir, path)).then(() => true, () => false)));
    if (!present.includes(true)) {
      throw new UsageError(
        `The files folder ${filesDir} has no ${MARKER} marker and none of the files this node's index knows: is the right volume mounted? ` +
          'Nothing was changed. Start with --accept-vanished to record them all as deleted.',
      );
    }
  }
  await fsp.mkdir(filesDir, { recursive: true });
  if (!hasMarker) {
    const handle = await fsp.open(marker, 'w');
    await handle.writeFile('This folder holds the files of a Nuvem node; this marker tells the node its volume is mounted.\n');
    await handle.sync();
    await handle.close();
    const dir = await fsp.open(filesDir, 'r');
    await dir.sync().catch(() => {});
    await dir.close();
  }
}

/** Up to `limit` paths of live files in the index. */
function liveFiles(index: IndexDb, limit: number): string[] {
  const out: string[] = [];
  for (const e of index.all()) {
    if (e.deleted || e.type !== 'file') continue;
    out.push(e.path);
    if (out.length >= limit) break;
  }
  return out;
}

/** Whether tombstoning `vanished` of `live` records is too many to do without being told (over 100 and over 10 %). Pure. */
export function massVanish(vanished: number, live: number): boolean {
  return vanished > 100 && vanished > live * 0.1;
}
