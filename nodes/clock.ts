/**
 * Hybrid logical clock (HLC). Versions are strings that sort in time order:
 * `WWWWWWWWWWWW-CCCC-nodeId` (wall milliseconds and a counter, both fixed-width
 * hex), so plain string comparison orders them, ties broken by node id.
 *
 * @example
 * const clock = createClock({ nodeId: 'n1', now: () => 1000 });
 * clock.tick() // '0000000003e8-0000-n1'
 */
export interface Clock {
  /** A new version, greater than every version issued or observed so far. */
  tick(): string;
  /** Moves the clock past a version seen from elsewhere (a peer, the index). */
  observe(version: string): void;
}

export interface ParsedVersion {
  wall: number;
  counter: number;
  node: string;
}

const VERSION = /^([0-9a-f]{12})-([0-9a-f]{4})-([a-z0-9][a-z0-9_-]{0,63})$/;
const MAX_COUNTER = 0xffff;

export function createClock(options: { nodeId: string; now?: () => number }): Clock {
  const now = options.now ?? Date.now;
  let wall = 0;
  let counter = 0;
  return {
    tick() {
      const t = now();
      if (t > wall) {
        wall = t;
        counter = 0;
      } else if (counter < MAX_COUNTER) {
        counter++;
      } else {
        wall++;
        counter = 0;
      }
      return formatVersion({ wall, counter, node: options.nodeId });
    },
    observe(version) {
      const v = parseVersion(version);
      if (!v) return;
      if (v.wall > wall || (v.wall === wall && v.counter > counter)) {
        wall = v.wall;
        counter = v.counter;
      }
    },
  };
}

export function formatVersion(v: ParsedVersion): string {
  return `${v.wall.toString(16).padStart(12, '0')}-${v.counter.toString(16).padStart(4, '0')}-${v.node}`;
}

export function parseVersion(version: string): ParsedVersion | undefined {
  const m = VERSION.exec(version);
  if (!m) return undefined;
  return { wall: parseInt(m[1], 16), counter: parseInt(m[2], 16), node: m[3] };
}

export function isVersion(s: string): boolean {
  return VERSION.test(s);
}

/** Total order on versions: negative if a is older than b. */
export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const NODE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
