/**
 * Who is a node (DESIGN.md section 7.6). With a node token, only nodes hold
 * it: each node presents its own credential to the broker, derived from the
 * node token and its id, so a node can publish as itself and no other, and
 * clients (which hold the cluster token, or a read token) can only
 * subscribe. Peers authenticate to each other's `/internal/` routes with the
 * node token itself. Pure.
 *
 * @example
 * nodeCredential('node-secret', 'node-1') // 'q3X…' (base64url, 43 characters)
 */
import { createHmac } from 'node:crypto';

export function nodeCredential(nodeToken: string, id: string): string {
  return createHmac('sha256', nodeToken).update(`nuvem node ${id}`).digest('base64url');
}
