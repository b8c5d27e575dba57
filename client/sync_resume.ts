/**
 * Where `nuvem sync` takes up the cluster's changes after a gap (a restart,
 * being offline, a broker outage) without listing the whole remote folder:
 * a saved position in one node's change feed (`GET /changes`), the "mark".
 *
 * A mark `{node, cursor}` is read from node N (`feedEnd`) *before* the
 * listing of a full pass, and saved (`DIR/.nuvem-sync/state.db`, meta
 * `feed`) only when that pass ended clean (nothing failed, nothing left
 * unsettled) and the nodes had caught up with each other: then everything N
 * held at `cursor` is in the last synced state (`base`), and base only ever
 * moves forward from there. So the cluster as N sees it now is base with
 * N's changes after `cursor` applied on top, ranked as the nodes rank them
 * (`remote_view.ts`): an older change never undoes a newer base entry.
 *
 * A mark is used only when it is for this remote folder's ignore rules as
 * they are now (a path ignored then was never synced, so base says nothing
 * of it), its node is reachable, and its feed still holds the change at
 * `cursor` (a node whose log was reset or pruned past it answers otherwise,
 * or `410 Gone`): in every other case the mirror lists the folder as before.
 *
 * @example
 * const mark = readMark(state.meta('feed'), { ignore: ignoreText });
 * const replay = mark && await replayFeed(client, { mark, root: 'photos', apply, signal });
 * if (!replay.ok) listInstead(replay.reason);
 */
import { createHash } from 'node:crypto';
import type { ChangeMessage } from '../protocol/messages.ts';
import { NuvemHttpError } from './errors.ts';
import type { NuvemClient } from './mod.ts';

/** A position in one node's change feed (cursors are per node). */
export interface FeedMark {
  node: string;
  cursor: string;
}

/** A mark as saved, with the ignore rules it was taken under. */
interface SavedMark extends FeedMark {
  ignore: string;
}

/** The digest of the ignore rules' text a mark is valid for. */
export function rulesDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The saved form of `mark` (meta `feed`). */
export function markText(mark: FeedMark, options: { ignore: string }): string {
  return JSON.stringify({ node: mark.node, cursor: mark.cursor, ignore: rulesDigest(options.ignore) } satisfies SavedMark);
}

/** The saved mark, if any, and why it cannot be used when it cannot. */
export function readMark(text: string | undefined, options: { ignore: string }): { mark?: FeedMark; reason: string } {
  if (text === undefined) return { reason: 'no saved position in a change feed' };
  let saved: Partial<SavedMark>;
  try {
    saved = JSON.parse(text);
  } catch {
    return { reason: 'the saved feed position is unreadable' };
  }
  if (typeof saved.node !== 'string' || typeof saved.cursor !== 'string' || !/^\d{1,15}$/.test(saved.cursor)) {
    return { reason: 'the saved feed position is unreadable' };
  }
  if (saved.ignore !== rulesDigest(options.ignore)) return { reason: '.nuvemignore changed since the last sync' };
  return { mark: { node: saved.node, cursor: saved.cursor }, reason: '' };
}

export type Replay = { ok: true; mark: FeedMark; changes: number; pages: number } | { ok: false; reason: string };

/**
 * Reads node `mark.node`'s feed from `mark.cursor` to its end and passes
 * each change to `apply`. Checks first that the feed still holds the change
 * at the cursor. Never throws for what only means "list instead" (node not
 * reachable, `410`, a broken feed); an abort is thrown.
 */
export async function replayFeed(
  client: Pick<NuvemClient, 'feed'>,
  options: { mark: FeedMark; apply: (change: ChangeMessage) => void; signal?: AbortSignal },
): Promise<Replay> {
  const { mark, signal } = options;
  const failed = (err: unknown): Replay => {
    if (signal?.aborted) throw signal.reason ?? err;
    if (err instanceof NuvemHttpError && err.status === 410) return { ok: false, reason: `node ${mark.node} pruned its change log past the saved position (410)` };
    return { ok: false, reason: `cannot read the change feed of node ${mark.node}: ${(err as Error).message}` };
  };
  try {
    if (mark.cursor !== '0') {
      // The change at the cursor must still be there (a log that was reset no longer has it). A log pruned up to
      // exactly the cursor answers 410 here, yet still holds everything after it: the read below decides.
      const check = await client.feed({ node: mark.node, since: String(Number(mark.cursor) - 1), limit: 1, signal }).catch((err) => {
        if (err instanceof NuvemHttpError && err.status === 410) return undefined;
        throw err;
      });
      if (check && check.cursor !== mark.cursor) return { ok: false, reason: `node ${mark.node}'s change log no longer holds the saved position` };
    }
    let cursor = mark.cursor;
    let changes = 0;
    let pages = 0;
    for (;;) {
      const page = await client.feed({ node: mark.node, since: cursor, signal });
      pages++;
      for (const change of page.changes) options.apply(change);
      changes += page.changes.length;
      if (page.changes.length === 0 || page.cursor === cursor) return { ok: true, mark: { node: mark.node, cursor }, changes, pages };
      cursor = page.cursor;
    }
  } catch (err) {
    return failed(err);
  }
}
