/**
 * `.nuvemignore` rules for `nuvem sync` (DESIGN.md section 6). Pure: the
 * caller reads the file and calls {@linkcode compileIgnore} again whenever it
 * changes.
 *
 * The syntax is gitignore's, matched by the `ignore` package (the matcher
 * eslint and prettier use): `#` comments, `!` negation, a trailing `/` for
 * folders only, a leading `/` anchors to the synced root, `*`, `**`, `?`,
 * `[a-z]`, and nothing under an ignored folder can be brought back. Matching
 * is case-sensitive, as the store compares paths byte-wise, and paths and
 * rules are compared in Unicode NFC, as the store does (DESIGN.md section 2).
 *
 * Folders named `.nuvem-sync` (the mirror's own state) or `.nuvem` (reserved
 * by the store) are always ignored, at any depth, whatever the file says: a
 * `!` rule cannot bring them back.
 *
 * @example
 * const ignored = compileIgnore('*.tmp\nbuild/\n');
 * ignored('a/b.tmp', false); // true
 * ignored('build', true);    // true
 * ignored('build', false);   // false: `build/` matches folders only
 */
import ignore from 'ignore';

/** The rules file's name, at the synced root. */
export const IGNORE_FILE = '.nuvemignore';

/** Folder names ignored whatever the rules say. */
export const ALWAYS_IGNORED_FOLDERS: readonly string[] = ['.nuvem-sync', '.nuvem'];

/** Says whether a path (relative, `/`-separated) is left out of the mirror. */
export type IgnorePredicate = (path: string, isFolder: boolean) => boolean;

/**
 * Compiles the text of a `.nuvemignore` (empty text: only the built-in
 * folders). The predicate throws a `RangeError` for a path that is not
 * relative (`/a`, `./a`, `../a`).
 */
export function compileIgnore(text: string): IgnorePredicate {
  // Without a rule (no file, or only blank lines and comments) the matcher is not built at all: `ignore`
  // caches its answer for every path it is asked about, 100 000 entries for a folder of 100 000 files.
  const hasRules = text.split(/\r?\n/).some((line) => line.trim() !== '' && !line.startsWith('#'));
  const rules = hasRules ? ignore({ ignorecase: false }).add(text.normalize('NFC')) : undefined;
  return (path, isFolder) => {
    if (path === '') return false;
    const normal = path.normalize('NFC');
    if (insideAlwaysIgnored(normal, isFolder)) return true;
    return rules !== undefined && rules.ignores(isFolder ? `${normal}/` : normal);
  };
}

/** Whether a segment of `path` is an always-ignored folder (its last one only when `isFolder`). */
function insideAlwaysIgnored(path: string, isFolder: boolean): boolean {
  const segments = path.split('/');
  const folders = isFolder ? segments : segments.slice(0, -1);
  return folders.some((segment) => ALWAYS_IGNORED_FOLDERS.includes(segment));
}
