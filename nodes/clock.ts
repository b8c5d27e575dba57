/**
 * Hybrid logical clock (HLC). Versions are strings that sort in time order:
 * `WWWWWWWWWWWW-CCCC-nodeId` (wall milliseconds and a counter, both fixed-width
 * hex), so plain string comparison orders them, ties broken by node id.
 *
 * @example
 * const clock = createClock({ nodeId: 'n1', now: () => 1000 });
 * clock.tick() // '0000000003e8-0000-n1'
 */
import { formatVersion, MAX_COUNTER, parseVersion } from '../protocol/version.ts';

export interface Clock {
  /** A new version, greater than every version issued or observed so far. */
  tick(): string;
  /** Moves the clock past a version seen from elsewhere (a peer, the index). */
  observe(version: string): void;
}

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
