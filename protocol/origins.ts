/**
 * Browser protections for a cluster without a token (DESIGN.md section 7.6).
 * A web page on another site can make a browser send requests to loopback
 * addresses, and with DNS rebinding even read the answers: nodes therefore
 * answer only requests whose `Host` names loopback or their own public URL,
 * and the broker's WebSocket listener takes only connections whose `Origin`
 * is a loopback origin or one it was told of. Requests from programs (no
 * `Origin`, no `Host` on HTTP/1.0) are not browsers' and pass. Pure.
 *
 * @example
 * hostAllowed('127.0.0.1:7001', []) // true
 * hostAllowed('evil.example:7001', []) // false
 * originAllowed('http://localhost:7001', []) // true
 */
import { isLoopback } from './flags.ts';

/** The name part of a `Host` header value (`name`, `name:port`, `[v6]:port`), lower-cased. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/**
 * Whether a request's `Host` may be answered: absent, a loopback name, or one
 * of `names` (host names of the node's public URL), whatever the port.
 */
export function hostAllowed(host: string | undefined, names: readonly string[]): boolean {
  if (host === undefined || host === '') return true;
  const name = hostName(host);
  return isLoopback(name) || names.includes(name);
}

/**
 * Whether a browser's `Origin` may connect: absent (not a browser), an
 * http(s) origin whose host is loopback, or one of `origins` exactly.
 * `null` (sandboxed frames, files) is refused.
 */
export function originAllowed(origin: string | undefined, origins: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (origins.includes(origin)) return true;
  const m = /^https?:\/\/([^/?#]+)$/i.exec(origin.trim());
  return m !== null && isLoopback(hostName(m[1]));
}
