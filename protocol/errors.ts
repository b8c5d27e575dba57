/**
 * Errors every part speaks. Domain errors of the store. Each carries a stable `code`; `functions/errors.ts`
 * is the one place that maps codes to HTTP statuses.
 */
export type ErrorCode =
  | 'invalid_path'
  | 'bad_request'
  | 'bad_digest'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'precondition_failed'
  | 'gone'
  | 'too_large'
  | 'range_not_satisfiable'
  | 'write_concern'
  | 'unavailable'
  | 'disk_full'
  | 'internal';

export class NuvemError extends Error {
  readonly code: ErrorCode;
  readonly extra: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'NuvemError';
    this.code = code;
    this.extra = details;
  }
}

export const invalidPath = (raw: string, why: string): NuvemError =>
  new NuvemError('invalid_path', `Cannot use path "${printable(raw)}": ${why}`);

export const notFound = (path: string): NuvemError =>
  new NuvemError('not_found', `No file or folder at "${path}"`);

export const preconditionFailed = (message: string): NuvemError =>
  new NuvemError('precondition_failed', message);

export const conflict = (message: string): NuvemError => new NuvemError('conflict', message);

/** Keeps control characters out of error messages and logs. */
export function printable(s: string): string {
  const shown = s.length > 120 ? s.slice(0, 120) + '…' : s;
  // deno-lint-ignore no-control-regex -- control characters are what this escapes
  return shown.replace(/[\u0000-\u001f\u007f]/g, hexEscape);
}

/**
 * Text for a terminal: C0 and C1 control characters (escape sequences that
 * could move the cursor or retitle the window) shown as `\xNN`; line breaks
 * and tabs kept.
 */
export function terminalSafe(s: string): string {
  // deno-lint-ignore no-control-regex -- control characters are what this escapes
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, hexEscape);
}

function hexEscape(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** A usage mistake (a bad flag or argument): the command prints it and exits 2. */
export class UsageError extends Error {
  /** The CLI command it concerns, when there is one (its usage is printed). */
  readonly command?: string;
  constructor(message: string, options: { command?: string } = {}) {
    super(message);
    this.name = 'UsageError';
    this.command = options.command;
  }
}
