/**
 * Names of conflict copies (DESIGN.md section 6). Pure: no I/O, no clock.
 *
 * When both sides changed a file differently, `nuvem sync` keeps the remote
 * version at the name and renames the local one beside it:
 * `NAME (conflict HOST YYYY-MM-DD HHMMSS).EXT`, the time in UTC. Like
 * Syncthing's `conflictName` (lib/model/folder_sendrecv.go) the marker goes
 * before the extension so the copy still opens with the same program, and
 * like Syncthing's `isConflict` a copy is recognised by its name alone.
 *
 * A conflict copy is an ordinary file that syncs like any other, but it never
 * gets a conflict copy of its own: when a copy is itself changed on both
 * sides, the local edit is uploaded over the remote one (the store keeps the
 * replaced version as a revision), so names never grow
 * `(conflict …) (conflict …)`. `sync_plan.ts` applies that rule.
 *
 * @example
 * conflictName('docs/report.pdf', { host: 'laptop', date: new Date('2026-03-07T09:05:01Z') })
 * // 'docs/report (conflict laptop 2026-03-07 090501).pdf'
 */

/** Options of {@linkcode conflictName}. */
export interface ConflictNameOptions {
  /** The machine that kept the local copy; reduced to `A-Z a-z 0-9 . _ -`. */
  host: string;
  /** When the conflict was found; formatted in UTC. */
  date: Date;
  /** Whether a path is already in use; a numbered suffix is added until it is not. */
  taken?: (path: string) => boolean;
}

/** Most bytes one path segment may hold (DESIGN.md section 2). */
const MAX_SEGMENT_BYTES = 255;
const MAX_HOST_CHARS = 63;
const MARKER = / \(conflict [A-Za-z0-9._-]+ \d{4}-\d{2}-\d{2} \d{6}(?: \d+)?\)(?:\.[^./]+)?$/;

/**
 * The conflict copy's path for `path`, in the same folder.
 *
 * The extension is the last `.ext` of the base name; a dotfile such as
 * `.bashrc`, or a name without a dot, has none. When `taken` says the name is
 * in use, ` 2`, ` 3`, … is added inside the parentheses. A name too long for
 * one segment is shortened before the marker.
 */
export function conflictName(path: string, options: ConflictNameOptions): string {
  const slash = path.lastIndexOf('/');
  const folder = path.slice(0, slash + 1);
  const { stem, ext } = splitExtension(path.slice(slash + 1));
  const label = `conflict ${sanitizeHost(options.host)} ${formatUtc(options.date)}`;
  for (let n = 1; ; n++) {
    const marker = ` (${n === 1 ? label : `${label} ${n}`})${ext}`;
    const candidate = folder + fitSegment(stem, marker) + marker;
    if (!options.taken?.(candidate)) return candidate;
  }
}

/** Whether `path` names a conflict copy made by {@linkcode conflictName}. */
export function isConflictCopy(path: string): boolean {
  return MARKER.test(path.slice(path.lastIndexOf('/') + 1));
}

/** Splits a base name at its last dot; a leading or trailing dot is not an extension. */
export function splitExtension(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return { stem: name, ext: '' };
  return { stem: name.slice(0, dot), ext: name.slice(dot) };
}

/** Keeps `A-Z a-z 0-9 . _ -`, turns runs of anything else into `-`, trims; `unknown` when nothing is left. */
export function sanitizeHost(host: string): string {
  const safe = host.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, MAX_HOST_CHARS);
  return safe === '' ? 'unknown' : safe;
}

/** `YYYY-MM-DD HHMMSS` in UTC. */
export function formatUtc(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('Cannot name a conflict copy: the date is invalid');
  const iso = date.toISOString(); // 2026-03-07T09:05:01.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** Shortens `stem` (whole code points) so that `stem + marker` fits one segment. */
function fitSegment(stem: string, marker: string): string {
  const room = MAX_SEGMENT_BYTES - utf8Length(marker);
  if (utf8Length(stem) <= room) return stem;
  const chars = Array.from(stem);
  while (chars.length > 0 && utf8Length(chars.join('')) > room) chars.pop();
  return chars.join('');
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
