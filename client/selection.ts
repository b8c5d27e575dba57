/**
 * Node choice: the one place that decides which node a request goes to.
 * Pure: no I/O.
 *
 * For now the configured order is the preference: the first node serves and
 * the others are fallbacks for safe requests (GET/HEAD) when the first cannot
 * be reached. Later this ranks by freshness, measured latency and `inflight`
 * (DESIGN.md, "Node selection") without its callers changing.
 *
 * @example
 * selectNodes(['http://a:7001', 'http://b:7001'], { method: 'GET', path: 'x' })
 * // ['http://a:7001', 'http://b:7001']
 */

export interface SelectionRequest {
  method: string;
  /** The remote path concerned (`''` for the root folder). */
  path: string;
}

/** The nodes to try for a request, best first. Never empty when `nodes` is not. */
export function selectNodes(nodes: readonly string[], _request: SelectionRequest): string[] {
  return [...nodes];
}
