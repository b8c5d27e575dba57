/**
 * Errors the client library throws and callers catch.
 *
 * - `NuvemHttpError`: a node answered with a non-2xx status. `code` is the
 *   server's JSON `error` (e.g. `not_found`, `precondition_failed`,
 *   `write_concern`), `message` its text for a person.
 * - `NuvemNetworkError`: no answer at all (refused, reset, DNS, TLS).
 * - `DigestMismatchError`: bytes received do not hash to what the node announced.
 * - `NuvemBrokerError`: the broker to find the nodes through cannot be reached.
 * - `NoNodeAvailableError` (selection.ts): every node is down, silent, or
 *   lacks what the request needs; `excluded` says why for each.
 */

export class NuvemHttpError extends Error {
  readonly status: number;
  readonly code: string;
  /** The parsed JSON error body, when there was one (e.g. `replicas` of a `write_concern`). */
  readonly body: Record<string, unknown>;
  /** The base URL of the node that answered. */
  readonly node: string;
  constructor(message: string, options: { status: number; code: string; body?: Record<string, unknown>; node?: string }) {
    super(message);
    this.name = 'NuvemHttpError';
    this.status = options.status;
    this.code = options.code;
    this.body = options.body ?? {};
    this.node = options.node ?? '';
  }
}

export class NuvemNetworkError extends Error {
  readonly node: string;
  /**
   * The connection was never made (refused, unreachable, name not found), so
   * the request surely did not reach the node; otherwise (reset, timeout) it
   * may have, and a change may have landed.
   */
  readonly refused: boolean;
  constructor(node: string, options: { cause: unknown; message?: string }) {
    super(options.message ?? `Cannot reach ${node}: ${describeCause(options.cause)}`, { cause: options.cause });
    this.name = 'NuvemNetworkError';
    this.node = node;
    this.refused = NOT_CONNECTED.has(causeCode(options.cause) ?? '');
  }
}

const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** The `code` of an error or of its causes (`ECONNREFUSED`…), if any. */
function causeCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    // AggregateError (happy eyeballs): the first inner error says it.
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner.length) return causeCode(inner[0]);
  }
  if (err instanceof Error && /Connection refused|os error 111/.test(err.message)) return 'ECONNREFUSED';
  return undefined;
}

/** The MQTT broker the nodes are to be found through cannot be reached (or refused the client). */
export class NuvemBrokerError extends Error {
  readonly broker: string;
  constructor(message: string, options: { broker: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'NuvemBrokerError';
    this.broker = options.broker;
  }
}

/** No answer, or no more bytes, within the time allowed. */
export class NuvemTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NuvemTimeoutError';
  }
}

/** Node's fetch says only "fetch failed"; the reason is in `cause`. */
function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Deno: 'error sending request for url (…): client error (Connect): tcp connect error: Connection refused (os error 111)'
  if (err.message.startsWith('error sending request')) return err.message.slice(err.message.lastIndexOf(': ') + 2);
  const inner = err.cause;
  if (inner instanceof Error && inner.message) return inner.message;
  if (inner && typeof inner === 'object' && 'code' in inner) return String((inner as { code: unknown }).code);
  return err.message;
}

export class DigestMismatchError extends Error {
  constructor(what: string, options: { expected: string; actual: string }) {
    super(`Cannot trust ${what}: its SHA-256 is ${options.actual} but the node announced ${options.expected}`);
    this.name = 'DigestMismatchError';
  }
}

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'too_large',
  416: 'range_not_satisfiable',
  503: 'unavailable',
  507: 'disk_full',
};

/** Builds the error for a non-2xx answer from its status and (JSON) body. Pure. */
export function httpErrorFrom(status: number, options: { bodyText: string; statusText?: string; node?: string }): NuvemHttpError {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(options.bodyText);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: a proxy or a foreign server answered; fall back to the status
  }
  const code = typeof body.error === 'string' ? body.error : STATUS_CODES[status] ?? `http_${status}`;
  const fallback = `${status} ${options.statusText || code}`.trim();
  const message = typeof body.message === 'string' && body.message !== '' ? body.message : fallback;
  return new NuvemHttpError(message, { status, code, body, node: options.node });
}

/** Reads a failed response's body and turns it into a `NuvemHttpError`. */
export async function errorFromResponse(res: Response, node: string): Promise<NuvemHttpError> {
  let bodyText = '';
  try {
    bodyText = (await res.text()).slice(0, 64 * 1024);
  } catch {
    // the body broke off; the status alone will do
  }
  return httpErrorFrom(res.status, { bodyText, statusText: res.statusText, node });
}
