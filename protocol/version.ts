/**
 * Versions (DESIGN.md section 2): hybrid-logical-clock stamps
 * `WWWWWWWWWWWW-CCCC-nodeId` (wall milliseconds and a counter, fixed-width hex),
 * so plain string comparison orders them, ties broken by node id. Pure.
 *
 * @example
 * formatVersion({ wall: 1000, counter: 0, node: 'n1' }) // '0000000003e8-0000-n1'
 */
export interface ParsedVersion {
  wall: number;
  counter: number;
  node: string;
}

/** A node id: 1 to 64 of a-z, 0-9, "_" and "-", starting with a letter or digit. */
export const NODE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^([0-9a-f]{12})-([0-9a-f]{4})-([a-z0-9][a-z0-9_-]{0,63})$/;
export const MAX_WALL = 0xffff_ffff_ffff;
export const MAX_COUNTER = 0xffff;

export function formatVersion(v: ParsedVersion): string {
  return `${v.wall.toString(16).padStart(12, '0')}-${v.counter.toString(16).padStart(4, '0')}-${v.node}`;
}

export function parseVersion(version: string): ParsedVersion | undefined {
  const m = VERSION.exec(version);
  if (!m) return undefined;
  return { wall: parseInt(m[1], 16), counter: parseInt(m[2], 16), node: m[3] };
}

/** Total order on versions: negative if a is older than b. */
export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

