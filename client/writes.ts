/**
 * The client's changes: put, remove, move and mkdir, each sent through
 * `change`, the one place that handles a change's two special outcomes:
 *
 * - a `503` with code `write_concern` means the change *is stored*, only not
 *   yet on as many replicas as asked (DESIGN.md section 3): it is noted as
 *   this client's write (so later reads are at least as new), then the error
 *   goes to the caller, and the change is never sent again elsewhere;
 * - after a failover whose first attempt's outcome is unknown
 *   (`afterUnknownOutcome`), a refusal may mean that attempt already made
 *   the change: the write's `earlier` check decides.
 */
import type { ClusterState } from './cluster_state.ts';
import { call, readJson, servedBy, type ClientContext } from './context.ts';
import { NuvemHttpError } from './errors.ts';
import { normalizeRemote } from './paths.ts';
import type { Reads } from './reads.ts';
import { deleteRequest, mkcolRequest, moveRequest, putRequest, type NuvemRequest } from './requests.ts';
import { afterUnknownOutcome, type SendOptions, type Sent } from './sender.ts';
import { bodySource } from './transfer.ts';
import type { ChangeOptions, MoveOptions, NuvemRecord, PutBody, PutOptions, RemoveOptions } from './types.ts';

export interface Writes {
  put(remote: string, body: PutBody, options?: PutOptions): Promise<NuvemRecord>;
  remove(remote: string, options?: RemoveOptions): Promise<void>;
  move(from: string, to: string, options?: MoveOptions): Promise<NuvemRecord | undefined>;
  mkdir(remote: string, options?: ChangeOptions): Promise<NuvemRecord | undefined>;
}

interface WriteAnswer {
  record?: Record<string, unknown>;
  node: string;
  deleted?: boolean;
}

/** Records a change this client made, from the node's answer (or its `write_concern` refusal). */
function noteWrite(state: ClusterState, path: string, answer: WriteAnswer): void {
  const { record, node, deleted = false } = answer;
  if (record && typeof record.version === 'string') {
    state.onWrite({
      path: typeof record.path === 'string' ? record.path : path,
      version: record.version,
      origin: typeof record.origin === 'string' ? record.origin : undefined,
      seq: typeof record.seq === 'number' ? record.seq : undefined,
      deleted: record.deleted === true || deleted,
      replicas: Array.isArray(record.replicas) ? (record.replicas as string[]) : undefined,
      node,
    });
  } else {
    const replicas = record && Array.isArray(record.replicas) ? (record.replicas as string[]) : undefined;
    state.onWrite({ path, node, deleted, replicas });
  }
}

interface ChangeCall<T> {
  /** How `send` tries the nodes (policy, path, needs, body, signal…). */
  send: SendOptions;
  /** The path a `503 write_concern` refusal is noted for (a move's target). */
  writes: string;
  /** What the change resolves to, from the node's answer. */
  answer: (sent: Sent) => Promise<T>;
  /**
   * After an unknown outcome, whether this refusal means the first attempt
   * already made the change: `{ value }` to resolve with, or undefined to throw.
   */
  earlier?: (err: NuvemHttpError) => Promise<{ value: T } | undefined>;
}

/** Sends one change (see the top of this file for `write_concern` and unknown outcomes). */
async function change<T>(ctx: ClientContext, request: NuvemRequest, how: ChangeCall<T>): Promise<T> {
  let sent: Sent;
  try {
    sent = await call(ctx, request, how.send);
  } catch (err) {
    if (err instanceof NuvemHttpError && err.code === 'write_concern') {
      const node = ctx.state.idOf(err.node) ?? err.node;
      noteWrite(ctx.state, how.writes, { record: err.body, node });
    }
    if (how.earlier && err instanceof NuvemHttpError && afterUnknownOutcome(err)) {
      const done = await how.earlier(err);
      if (done) return done.value;
    }
    throw err;
  }
  return how.answer(sent);
}

export function createWrites(ctx: ClientContext, reads: Pick<Reads, 'stat'>): Writes {
  const { state } = ctx;

  async function put(remote: string, body: PutBody, opts: PutOptions = {}): Promise<NuvemRecord> {
    const path = normalizeRemote(remote);
    const source = bodySource(body, opts.size);
    // A conditional write must meet the version this client knows of, not an older one.
    const conditional = opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined;
    return change(ctx, putRequest(path, { ...opts, size: source.size }), {
      send: { policy: 'put', path, body: source, needs: conditional ? state.needsFor(path) : [], signal: opts.signal, onProgress: opts.onProgress },
      writes: path,
      answer: async (sent) => {
        const record = (await readJson(sent, `the record of "${path}"`)) as NuvemRecord;
        noteWrite(state, path, { record, node: servedBy(sent) });
        if (source.size !== undefined) opts.onProgress?.(source.size);
        return record;
      },
      // The first attempt may have stored it before failing: then the condition fails on the retry, for our own bytes.
      earlier: async (err) => {
        if (err.status !== 412 || !opts.sha256) return undefined;
        const current = await reads.stat(path, { signal: opts.signal }).catch(() => undefined);
        return current?.sha256 === opts.sha256.toLowerCase() ? { value: current } : undefined;
      },
    });
  }

  async function remove(remote: string, opts: RemoveOptions = {}): Promise<void> {
    const path = normalizeRemote(remote);
    return change(ctx, deleteRequest(path, opts), {
      // A recursive delete of a large folder takes a while: waited for as long as the node is alive.
      send: { policy: 'change', path, needs: state.needsFor(path), signal: opts.signal, whileAlive: opts.recursive },
      writes: path,
      answer: async (sent) => {
        sent.finish();
        await sent.res.body?.cancel();
        noteWrite(state, path, { node: servedBy(sent), deleted: true });
      },
      // An earlier attempt may have deleted it before its node failed.
      earlier: async (err) => (err.status === 404 ? { value: undefined } : undefined),
    });
  }

  async function move(from: string, to: string, opts: MoveOptions = {}): Promise<NuvemRecord | undefined> {
    const path = normalizeRemote(from);
    const target = normalizeRemote(to);
    return change(ctx, moveRequest(path, target, opts), {
      // A folder of many entries takes a while to move: waited for as long as the node is alive.
      send: { policy: 'once', path, needs: state.needsFor(path), signal: opts.signal, whileAlive: true },
      writes: target,
      answer: async (sent) => {
        const result = (await readJson(sent, `the move of "${path}"`)) as NuvemRecord | undefined;
        const node = servedBy(sent);
        const records = Array.isArray(result?.entries) ? (result.entries as Record<string, unknown>[]) : result ? [result] : [];
        for (const r of records) noteWrite(state, String(r.path ?? target), { record: { ...r, replicas: result?.replicas }, node });
        if (result && !Array.isArray(result.entries)) noteWrite(state, path, { record: { ...result, path, deleted: true }, node, deleted: true });
        return result;
      },
    });
  }

  async function mkdir(remote: string, opts: ChangeOptions = {}): Promise<NuvemRecord | undefined> {
    const path = normalizeRemote(remote);
    return change(ctx, mkcolRequest(path, opts), {
      send: { policy: 'change', path, signal: opts.signal },
      writes: path,
      answer: async (sent) => {
        const record = (await readJson(sent, `the folder "${path}"`)) as NuvemRecord | undefined;
        noteWrite(state, path, { record, node: servedBy(sent) });
        return record;
      },
      // An earlier attempt may have made it before its node failed.
      earlier: async (err) => (err.status === 405 || err.status === 409 ? { value: undefined } : undefined),
    });
  }

  return { put, remove, move, mkdir };
}
