/**
 * Human output of the CLI: listings, records, revisions, node status and
 * change lines. Pure: no I/O, and
 * the time zone is a parameter so tests do not depend on the machine's.
 *
 * @example
 * formatTable([['TYPE', 'NAME'], ['file', 'a.txt']], { right: [] })
 * // 'TYPE  NAME\nfile  a.txt'
 */
import type { MemberView } from './members.ts';
import { formatBytes } from './progress_format.ts';
import { relativeTo } from './paths.ts';
import type { ChangeMessage } from '../protocol/messages.ts';
import type { NodeReport } from './cluster_state.ts';
import type { NuvemEntry, NuvemRecord } from './types.ts';

export interface TimeOptions {
  /** Minutes to add to UTC to get local time (the opposite sign of `Date#getTimezoneOffset`). */
  utcOffsetMinutes?: number;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `2026-11-23 15:58:01` in local time (or the given offset); `-` when unknown. */
export function formatTimestamp(ms: number | undefined, options: TimeOptions = {}): string {
  if (!ms || !Number.isFinite(ms)) return '-';
  const offset = options.utcOffsetMinutes ?? -new Date(ms).getTimezoneOffset();
  const d = new Date(ms + offset * 60_000);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

/** Aligns rows into columns two spaces apart; column indexes in `right` are right-aligned. */
export function formatTable(rows: string[][], options: { right?: number[] } = {}): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const right = new Set(options.right ?? []);
  return rows
    .map((row) => row
      .map((cell, i) => (i === row.length - 1 && !right.has(i) ? cell : right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  '))
    .join('\n');
}

/** `ls`: TYPE SIZE MODIFIED NAME, names relative to the listed folder, folders ending in `/`. */
export function formatListing(entries: NuvemEntry[], options: TimeOptions & { folder: string }): string {
  const rows = entries
    .filter((e) => !e.deleted)
    .map((e) => {
      const folder = e.type === 'folder';
      const name = relativeTo(e.path, options.folder) + (folder ? '/' : '');
      return [folder ? 'folder' : 'file', folder ? '-' : formatBytes(e.size), formatTimestamp(e.modified, options), name];
    });
  if (rows.length === 0) return '';
  return formatTable([['TYPE', 'SIZE', 'MODIFIED', 'NAME'], ...rows], { right: [1] });
}

const STAT_ORDER = ['path', 'type', 'size', 'modified', 'version', 'sha256', 'contentType', 'deleted', 'origin', 'seq', 'replicas'];

function statValue(key: string, value: unknown, options: TimeOptions): string {
  if (key === 'size' && typeof value === 'number') return `${value} (${formatBytes(value)})`;
  if (key === 'modified' && typeof value === 'number') return `${formatTimestamp(value, options)} (${value})`;
  if (Array.isArray(value)) return value.join(', ');
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `stat`: one `key: value` line per field, the usual ones first. */
export function formatRecord(record: Record<string, unknown>, options: TimeOptions = {}): string {
  const keys = [
    ...STAT_ORDER.filter((k) => k in record),
    ...Object.keys(record).filter((k) => !STAT_ORDER.includes(k)).sort(),
  ].filter((k) => record[k] !== undefined && record[k] !== '');
  const width = Math.max(...keys.map((k) => k.length)) + 1;
  return keys.map((k) => `${(k + ':').padEnd(width)} ${statValue(k, record[k], options)}`).join('\n');
}

/** `revisions`: newest first, as the node sends them. */
export function formatRevisions(revisions: NuvemRecord[], options: TimeOptions = {}): string {
  if (revisions.length === 0) return '';
  const rows = revisions.map((r) => [
    r.version,
    r.deleted ? '-' : formatBytes(r.size),
    formatTimestamp(r.modified, options),
    r.deleted ? '(deleted)' : (r.sha256 ?? '').slice(0, 12),
    r.origin ?? '',
  ]);
  return formatTable([['VERSION', 'SIZE', 'MODIFIED', 'SHA256', 'ORIGIN'], ...rows], { right: [1] });
}

/** `members`: the members one node knows (long URLs shortened; terminal escapes are removed by the CLI). */
export function formatMembers(members: MemberView[], options: { node: string; now: number }): string {
  if (members.length === 0) return `${options.node} knows no other member`;
  const short = (url: string) => (url.length > 60 ? url.slice(0, 57) + '...' : url);
  const rows = [...members].sort((a, b) => (a.id < b.id ? -1 : 1)).map((m) => [
    m.id, m.state, m.seenAt ? formatAge(options.now - m.seenAt) : 'never', short(m.url),
  ]);
  return [`members known to ${options.node}:`, formatTable([['MEMBER', 'STATE', 'SEEN ONLINE', 'URL'], ...rows])].join('\n');
}

/** `trash ls`: path, size, when deleted, the version a restore brings back. */
export function formatTrash(entries: { path: string; size: number; deleted: number; version: string }[], options: TimeOptions = {}): string {
  const rows = entries.map((e) => [e.path, formatBytes(e.size), formatTimestamp(e.deleted, options), e.version]);
  return formatTable([['PATH', 'SIZE', 'DELETED', 'VERSION'], ...rows], { right: [1] });
}

/** One-line summary of a stored file, for `put`. */
export function formatStored(record: Partial<NuvemRecord>): string {
  const parts = [typeof record.size === 'number' ? formatBytes(record.size) : undefined, record.version && `version ${record.version}`];
  const replicas = Array.isArray(record.replicas) && record.replicas.length ? `on ${record.replicas.length} node(s)` : undefined;
  return `${record.path ?? ''} (${[...parts, replicas].filter(Boolean).join(', ')})`;
}

/** `1.2 s`, `850 ms`, `3 min`; `-` when unknown. */
export function formatAge(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function formatLatency(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** `status`: one row per node, by id (resource columns: cpu share, 1-min load, the process's memory and the machine's free memory), then how many are online. */
export function formatStatus(nodes: readonly NodeReport[]): string {
  if (nodes.length === 0) return 'no nodes known';
  const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rows = sorted.map((n) => [
    n.id,
    n.state,
    formatAge(n.heartbeatAgeMs),
    n.lag === undefined ? '-' : String(n.lag),
    formatLatency(n.latencyMs),
    n.files === undefined ? '-' : `${n.files} (${formatBytes(n.bytes ?? 0)})`,
    n.disk && n.disk.total > 0 ? `${formatBytes(n.disk.free)} free of ${formatBytes(n.disk.total)}` : '-',
    n.cpu === undefined ? '-' : `${Math.round(n.cpu * 100)}%`,
    n.load === undefined ? '-' : n.load.toFixed(2),
    n.mem ? `${formatBytes(n.mem.rss)} (${formatBytes(n.mem.free)} free of ${formatBytes(n.mem.total)})` : '-',
    n.url,
  ]);
  const online = nodes.filter((n) => n.state === 'online').length;
  const header = ['NODE', 'STATE', 'HEARTBEAT', 'LAG', 'LATENCY', 'FILES', 'DISK', 'CPU', 'LOAD', 'MEMORY', 'URL'];
  const table = formatTable([header, ...rows], { right: [2, 3, 4, 7, 8] });
  return `${table}\n${online} of ${nodes.length} node${nodes.length === 1 ? '' : 's'} online`;
}

/** `watch`: one line per change — time received, operation, path, and where it came from. */
export function formatChange(change: ChangeMessage, options: TimeOptions & { at: number }): string {
  const time = formatTimestamp(options.at, options).slice(11);
  const source = `[${change.origin} #${change.seq}]`;
  switch (change.op) {
    case 'put':
      return `${time}  put     ${change.path}  (${formatBytes(change.size)})  ${source}`;
    case 'delete':
      return `${time}  delete  ${change.path}${change.type === 'folder' ? '/' : ''}  ${source}`;
    case 'move':
      return `${time}  move    ${change.from} -> ${change.path}${change.type === 'folder' ? '/' : ''}  ${source}`;
    case 'mkcol':
      return `${time}  mkdir   ${change.path}/  ${source}`;
  }
}
