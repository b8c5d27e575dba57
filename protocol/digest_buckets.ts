/**
 * Anti-entropy splits the path space into BUCKETS slices by a hash of the
 * path; peers compare one digest per slice (DESIGN.md section 4). Pure.
 */
export const BUCKETS = 64;

/** FNV-1a of the path, folded into BUCKETS slices. */
export function bucketOf(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % BUCKETS;
}
