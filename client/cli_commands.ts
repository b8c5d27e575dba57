/**
 * What each client command of the `nuvem` CLI does. Output goes through the
 * context, so the entry point decides where it lands; the arguments come
 * already parsed and checked by `cli_args.ts`.
 */
import { stat as statLocal } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, type CommandName } from './cli_args.ts';
import { withHint } from './cli_errors.ts';
import { formatChange, formatListing, formatMembers, formatRecord, formatRevisions, formatStatus, formatStored, formatTrash } from './cli_format.ts';
import { contentTypeFor } from './content_type.ts';
import { readContentDigest } from '../protocol/content_digest.ts';
import { NuvemHttpError } from './errors.ts';
import { fileStream, hashFile, saveToFile, stdinStream, writeToStdout } from './local_files.ts';
import type { NuvemClient } from './mod.ts';
import { baseName, normalizeRemote, remoteForPut } from './paths.ts';
import { createProgress, type ProgressStream } from './progress.ts';
import { formatBytes } from './progress_format.ts';
import { recordFromHeaders } from './records.ts';
import type { PutOptions } from './types.ts';

export interface CommandContext {
  client: NuvemClient;
  json: boolean;
  /** Writes a line (or a JSON document) to stdout. */
  out(text: string): void;
  /** Writes a line to stderr. */
  err(text: string): void;
  /** Where progress is drawn (stderr); it decides whether it is a terminal. */
  progressStream: ProgressStream;
  signal: AbortSignal;
  /** Where the nodes come from, for messages: the broker URL, or the node URLs. */
  via?: string;
  /** `-v`: say more (which node served what; sync's debug lines). */
  verbose?: boolean;
}

export interface CommandInput {
  args: string[];
  options: Record<string, string | boolean>;
}

type Runner = (ctx: CommandContext, input: CommandInput) => Promise<void>;

function emit(ctx: CommandContext, json: unknown, human: string): void {
  if (ctx.json) ctx.out(JSON.stringify(json));
  else if (human !== '') ctx.out(human);
}

/**
 * A `503 write_concern` answer to a change means it is stored but not yet on
 * every online replica: warn, and carry on as stored (DESIGN.md section 3).
 */
async function change<T>(ctx: CommandContext, run: () => Promise<T>): Promise<T | Record<string, unknown>> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof NuvemHttpError) || err.code !== 'write_concern') throw err;
    const replicas = Array.isArray(err.body.replicas) ? ` (so far on: ${err.body.replicas.join(', ')})` : '';
    ctx.err(`nuvem: warning: stored, but not yet confirmed by every online replica${replicas}; it keeps replicating`);
    return err.body;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await statLocal(path)).isDirectory();
  } catch {
    return false;
  }
}

type PutCommon = Pick<PutOptions, 'contentType' | 'ifMatch' | 'ifNoneMatch' | 'signal'>;

/** `put - REMOTE`: stdin, size unknown, so no digest and no percent. */
async function putStdin(ctx: CommandContext, remoteArg: string | undefined, common: PutCommon) {
  if (remoteArg === undefined || remoteArg.endsWith('/')) {
    throw new UsageError('put: reading stdin ("-") needs a REMOTE file path', { command: 'put' });
  }
  const remote = normalizeRemote(remoteArg);
  const progress = createProgress(`put ${remote}`, { stream: ctx.progressStream });
  try {
    const record = await change(ctx, () => ctx.client.put(remote, stdinStream(), {
      ...common, contentType: common.contentType ?? contentTypeFor(remote), onProgress: (n) => progress.update(n),
    }));
    progress.finish();
    return record;
  } catch (err) {
    progress.abort();
    throw err;
  }
}

/** `put LOCAL [REMOTE]`: a first streaming pass hashes the file for `Content-Digest`, the second uploads it. */
async function putFile(ctx: CommandContext, paths: { local: string; remote?: string }, common: PutCommon) {
  const info = await statLocal(paths.local);
  if (info.isDirectory()) throw new Error(`Cannot upload "${paths.local}": it is a folder (put uploads one file)`);
  const remote = remoteForPut(paths.local, paths.remote);
  let progress = createProgress(`hash ${baseName(paths.local)}`, { total: info.size, stream: ctx.progressStream, final: false });
  try {
    const sha256 = await hashFile(paths.local, { onProgress: (n) => progress.update(n), signal: ctx.signal });
    progress.finish();
    progress = createProgress(`put ${remote}`, { total: info.size, stream: ctx.progressStream });
    // A function body: if the node fails mid-upload, the file is read and sent again to another node.
    const record = await change(ctx, () => ctx.client.put(remote, () => fileStream(paths.local), {
      ...common, contentType: common.contentType ?? contentTypeFor(paths.local), size: info.size, sha256,
      onProgress: (n) => progress.update(n),
    }));
    progress.finish();
    return record;
  } catch (err) {
    progress.abort();
    throw err;
  }
}

const put: Runner = async (ctx, { args, options }) => {
  const [local, remote] = args;
  const common: PutCommon = {
    contentType: typeof options['content-type'] === 'string' ? options['content-type'] : undefined,
    ifMatch: typeof options['if-match'] === 'string' ? options['if-match'] : undefined,
    ifNoneMatch: options['no-overwrite'] ? '*' : undefined,
    signal: ctx.signal,
  };
  const record = local === '-' ? await putStdin(ctx, remote, common) : await putFile(ctx, { local, remote }, common);
  emit(ctx, record, `stored ${formatStored(record as Record<string, unknown>)}`);
};

const get: Runner = async (ctx, { args, options }) => {
  const [remoteArg, localArg] = args;
  const remote = normalizeRemote(remoteArg);
  if (localArg === '-' && ctx.json) throw new UsageError('get: --json cannot be used when the file goes to stdout ("-")', { command: 'get' });
  const version = typeof options.version === 'string' ? options.version : undefined;
  const res = await ctx.client.get(remote, { version, signal: ctx.signal });
  const record = recordFromHeaders(remote, res.headers);
  const length = res.headers.get('content-length');
  // The digest covers the whole file as sent; a compressed or partial body cannot be checked against it.
  const whole = res.status === 200 && !res.headers.get('content-encoding');
  const sha256 = whole ? readContentDigest(res.headers.get('content-digest')) ?? (await recordedSha256(ctx, remote, record.version)) : null;
  const body = res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  const progress = createProgress(`get ${remote}`, { total: length ? Number(length) : undefined, stream: ctx.progressStream });
  const copy = { sha256, signal: ctx.signal, onProgress: (n: number) => progress.update(n) };
  try {
    if (localArg === '-') {
      await writeToStdout(body, copy);
      progress.finish();
      return;
    }
    const dest = localArg === undefined
      ? baseName(remote)
      : localArg.endsWith('/') || (await isDirectory(localArg)) ? join(localArg, baseName(remote)) : localArg;
    const result = await saveToFile(body, dest, { ...copy, modified: record.modified });
    progress.finish();
    emit(ctx, { path: remote, local: dest, size: result.size, sha256: result.sha256, version: record.version },
      `saved ${remote} to ${dest} (${formatBytes(result.size)})`);
  } catch (err) {
    progress.abort();
    await body.cancel().catch(() => {});
    throw err;
  }
};

/**
 * The SHA-256 the cluster recorded for `version` of `remote`, for an answer
 * that came without a Content-Digest: the download is verified all the same.
 */
async function recordedSha256(ctx: CommandContext, remote: string, version: string): Promise<string> {
  const current = await ctx.client.stat(remote, { signal: ctx.signal });
  const record = current.version === version ? current : (await ctx.client.revisions(remote, { signal: ctx.signal })).find((r) => r.version === version);
  if (!record?.sha256) throw new Error(`Cannot verify ${remote}: the node sent no Content-Digest and no record of version ${version} was found`);
  return record.sha256;
}

const rm: Runner = async (ctx, { args, options }) => {
  const remote = normalizeRemote(args[0]);
  const recursive = options.recursive === true;
  const purge = options.purge === true;
  try {
    await change(ctx, () => ctx.client.remove(remote, { recursive, purge, signal: ctx.signal }));
  } catch (err) {
    if (!recursive && err instanceof NuvemHttpError && err.code === 'conflict') {
      throw withHint(err, `"nuvem rm -r ${remote}" deletes the folder and everything in it`);
    }
    throw err;
  }
  emit(ctx, purge ? { path: remote, deleted: true, purged: true } : { path: remote, deleted: true }, purge ? `erased ${remote} and its kept versions` : `removed ${remote}`);
};

/** `trash ls [FOLDER]` and `trash restore PATH`. */
const trash: Runner = async (ctx, { args, options }) => {
  const [action, target] = args;
  if (action === 'ls') {
    const folder = normalizeRemote(target ?? '', { root: true });
    const entries = await ctx.client.trash(folder, { signal: ctx.signal });
    emit(ctx, { entries }, entries.length ? formatTrash(entries) : `nothing in the trash${folder ? ` under ${folder}` : ''}`);
    return;
  }
  if (action !== 'restore') throw new UsageError(`trash: expected "ls" or "restore", not "${action}"`, { command: 'trash' });
  if (target === undefined) throw new UsageError('trash restore: missing PATH', { command: 'trash' });
  const remote = normalizeRemote(target);
  const version = typeof options.version === 'string' ? options.version : undefined;
  const restored = await change(ctx, () => ctx.client.restore(remote, { version, signal: ctx.signal }));
  const records = Array.isArray(restored) ? restored : [];
  emit(ctx, { restored: records }, `restored ${records.length === 1 && records[0].path === remote ? remote : `${records.length} file(s) under ${remote}`}`);
};

const mv: Runner = async (ctx, { args, options }) => {
  const [from, to] = [normalizeRemote(args[0]), normalizeRemote(args[1])];
  const result = await change(ctx, () => ctx.client.move(from, to, { overwrite: options['no-overwrite'] !== true, signal: ctx.signal }));
  emit(ctx, result ?? { from, to }, `moved ${from} to ${to}`);
};

const mkdir: Runner = async (ctx, { args }) => {
  const remote = normalizeRemote(args[0]);
  const result = await change(ctx, () => ctx.client.mkdir(remote, { signal: ctx.signal }));
  emit(ctx, result ?? { path: remote, type: 'folder' }, `created folder ${remote}/`);
};

const ls: Runner = async (ctx, { args, options }) => {
  const folder = normalizeRemote(args[0] ?? '', { root: true });
  const entries = await ctx.client.list(folder, { recursive: options.recursive === true, signal: ctx.signal });
  emit(ctx, { entries }, formatListing(entries, { folder }));
};

const stat: Runner = async (ctx, { args }) => {
  const record = await ctx.client.stat(normalizeRemote(args[0]), { signal: ctx.signal });
  emit(ctx, record, formatRecord(record));
};

const revisions: Runner = async (ctx, { args }) => {
  const remote = normalizeRemote(args[0]);
  const list = await ctx.client.revisions(remote, { signal: ctx.signal });
  emit(ctx, { revisions: list }, list.length ? formatRevisions(list) : `no earlier versions of ${remote} are kept`);
};

/** `status`: every node, probed now; exits 0 whatever their state, as long as some node is known. */
const status: Runner = async (ctx) => {
  const nodes = await ctx.client.nodes({ probe: true });
  if (nodes.length === 0) throw new Error(`No Nuvem node has announced itself${ctx.via ? ` on ${ctx.via}` : ''}`);
  emit(ctx, { nodes }, formatStatus(nodes));
};

/** `members` lists the members a node knows; `members forget ID` makes the nodes forget one. */
const members: Runner = async (ctx, { args }) => {
  if (args.length === 0) {
    const { node, members: list } = await ctx.client.members({ signal: ctx.signal });
    emit(ctx, { node, members: list }, formatMembers(list, { node, now: Date.now() }));
    return;
  }
  if (args[0] !== 'forget' || args.length !== 2) throw new UsageError('members: expected no argument, or "forget ID"', { command: 'members' });
  const answer = await ctx.client.forgetMember(args[1], { signal: ctx.signal });
  emit(ctx, answer, `${answer.wasMember ? 'forgot' : 'was not a member, now forgotten:'} ${answer.forgotten} (on ${answer.node}; the other nodes are told through the broker)`);
};

/** A log line of a long-running command: one JSON object with a level (DESIGN.md section 5). */
function logLine(ctx: CommandContext, level: 'info' | 'warn', fields: { msg: string } & Record<string, unknown>): void {
  ctx.err(JSON.stringify({ time: new Date().toISOString(), level, ...fields }));
}

/** `watch [FOLDER]`: one line per change until Ctrl-C. */
const watch: Runner = async (ctx, { args }) => {
  const folder = normalizeRemote(args[0] ?? '', { root: true });
  const inside = (path: string | undefined) => path !== undefined && (folder === '' || path === folder || path.startsWith(folder + '/'));
  await ctx.client.ready();
  logLine(ctx, 'info', { msg: 'watching changes', folder: folder || '/', via: ctx.via });
  await ctx.client.watch((c) => {
    if (!inside(c.path) && !inside(c.from)) return;
    ctx.out(ctx.json ? JSON.stringify(c) : formatChange(c, { at: Date.now() }));
  }, { signal: ctx.signal, onGap: (reason) => logLine(ctx, 'warn', { msg: reason }) });
};

/** `sync DIR`: loaded only when used (SQLite and the folder watcher are not needed by other commands). */
const sync: Runner = async (ctx, input) => (await import('./cli_sync.ts')).runSync(ctx, input);

export const RUNNERS: Record<CommandName, Runner> = { put, get, rm, mv, mkdir, ls, stat, revisions, trash, status, members, watch, sync };
