/**
 * Which of two records of one path wins (DESIGN.md section 2: last writer wins,
 * a modification concurrent with a delete wins over the delete). Pure.
 *
 * Every record has a rank; the higher rank wins, on every node, whatever order
 * the records arrive in (the rank order is total, so "keep the maximum"
 * converges). A live record ranks by its version. A tombstone ranks just
 * after the version it deleted (`prev`): it beats that version and anything
 * older, but not a modification made concurrently (whose version is newer than
 * `prev`, since it was written after the deleted version existed).
 *
 * @example
 * wins({ version: 'b', deleted: false }, { version: 'a', deleted: false }) // true
 */
export interface Rankable {
  version: string;
  deleted: boolean;
  prev?: string;
}

/** [primary, secondary] rank; compared lexicographically. */
export function rank(r: Rankable): [string, string] {
  return r.deleted ? [r.prev ?? '', r.version] : [r.version, ''];
}

/** Does `a` win over `b`? (false when they are the same version) */
export function wins(a: Rankable, b: Rankable): boolean {
  const [a1, a2] = rank(a);
  const [b1, b2] = rank(b);
  return a1 > b1 || (a1 === b1 && a2 > b2);
}

/**
 * Were two live versions written concurrently, neither knowing the other?
 * `basis` is the version the winner replaced when it was written.
 */
export function isConflict(winner: { prev?: string; deleted: boolean }, loser: { version: string; deleted: boolean }): boolean {
  return !winner.deleted && !loser.deleted && winner.prev !== loser.version;
}
