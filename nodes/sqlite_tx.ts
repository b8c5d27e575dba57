/**
 * One SQLite transaction that reports the error that ended it. libsql's
 * `db.transaction()` always sends ROLLBACK after a failure; when SQLite has
 * already rolled the transaction back itself (it does on SQLITE_FULL and
 * some I/O errors), that ROLLBACK fails with "cannot rollback - no
 * transaction is active", which then hides the real cause (a full disk).
 */
import type Database from 'libsql';

/** Runs `fn` between BEGIN and COMMIT; on failure rolls back if a transaction is still open and rethrows the first error. */
export function inTransaction<T>(db: Database.Database, fn: () => T): T {
  db.exec('BEGIN');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.inTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch { /* the first error is the one to report */ }
    }
    throw err;
  }
}
