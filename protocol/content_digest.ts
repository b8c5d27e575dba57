import { NuvemError } from './errors.ts';
/**
 * `Content-Digest` (RFC 9530) with SHA-256, and hex/base64 conversions.
 * Pure: no I/O. Records carry `sha256` as lowercase hex; the header carries
 * the same bytes as base64 between colons. Nodes parse what clients send
 * strictly (`parseContentDigest`, a bad header is a 400); clients read what
 * nodes send leniently (`readContentDigest`, unreadable means absent).
 *
 * @example
 * contentDigestHeader('e3b0c442…b855') // 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'
 */

export function hexToBase64(hex: string): string {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new TypeError(`Cannot read "${hex}" as hex: odd length or a non-hex digit`);
  let binary = '';
  for (let i = 0; i < hex.length; i += 2) binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(binary);
}

export function base64ToHex(b64: string): string {
  const binary = atob(b64);
  let hex = '';
  for (let i = 0; i < binary.length; i++) hex += binary.charCodeAt(i).toString(16).padStart(2, '0');
  return hex;
}

/** The header value for a SHA-256 given in hex. */
export function contentDigestHeader(sha256Hex: string): string {
  if (sha256Hex.length !== 64) throw new TypeError(`Cannot use "${sha256Hex}" as a SHA-256: expected 64 hex digits`);
  return `sha-256=:${hexToBase64(sha256Hex)}:`;
}

/**
 * The SHA-256 (hex) in a `Content-Digest` header, or null when the header is
 * absent, has no `sha-256` member, or cannot be read.
 */
export function readContentDigest(header: string | null): string | null {
  if (!header) return null;
  for (const member of header.split(',')) {
    const match = /^\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):\s*$/i.exec(member);
    if (!match) continue;
    try {
      const hex = base64ToHex(match[1]);
      return hex.length === 64 ? hex : null;
    } catch {
      return null;
    }
  }
  return null;
}

const bad = (message: string) => new NuvemError('bad_request', message);

/**
 * A request's `Content-Digest`, strictly: the sha-256 value as hex, undefined
 * when the header is absent or names only other algorithms; a malformed
 * header is a `bad_request`.
 */
export function parseContentDigest(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const member of header.split(',')) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$/.exec(member);
    if (!m) throw bad(`Cannot parse Content-Digest "${header.slice(0, 100)}": expected sha-256=:<base64>:`);
    if (m[1] !== 'sha-256') continue;
    let bytes: string;
    try {
      bytes = atob(m[2]);
    } catch {
      throw bad('Content-Digest sha-256 is not valid base64');
    }
    if (bytes.length !== 32) throw bad('Content-Digest sha-256 must be 32 bytes');
    return [...bytes].map((ch) => ch.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  }
  return undefined;
}
