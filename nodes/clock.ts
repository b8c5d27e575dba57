/**
 * Hybrid logical clock (HLC). Versions are strings that sort in time order:
 * `WWWWWWWWWWWW-CCCC-nodeId` (wall milliseconds and a counter, both fixed-width
 * hex; protocol/version.ts), so plain string comparison orders them, ties
 * broken by node id.
 *
 * The clock follows versions it observes, but only up to `maxAheadMs` (60 s)
 * ahead of its own wall clock: a version further ahead (a forged notice, a
 * peer whose clock is wrong) would drag every later version of this node with
 * it, so it is refused (`observe` answers false) and the caller drops the
 * change. At the end of its format, `tick()` saturates instead of
 * overflowing: it keeps issuing the largest version, never an invalid one.
 *
 * @example
 * const clock = createClock({ nodeId: 'n1', now: () => 1000 });
 * clock.tick() // '0000000003e8-0000-n1'
 */
import { formatVersion, MAX_COUNTER, MAX_WALL, parseVersion } from '../protocol/version.ts';

export interface Clock {
  /** A new version, greater than every version issued or observed so far (until the format's end). */
  tick(): string;
  /**
   * Moves the clock past a version seen from elsewhere (a peer, the index).
   * Answers false, and does not move, for a version more than `maxAheadMs`
   * ahead of the wall clock or one that does not parse.
   */
  observe(version: string): boolean;
  /** Whether a version is more than `maxAheadMs` ahead of the wall clock. */
  tooFarAhead(version: string): boolean;
}

export const MAX_AHEAD_MS = 60_000;

export function createClock(options: { nodeId: string; now?: () => number; maxAheadMs?: number }): Clock {
  const now = options.now ?? Date.now;
  const maxAhead = options.maxAheadMs ?? MAX_AHEAD_MS;
  let wall = 0;
  let counter = 0;
  const tooFarAhead = (version: string) => {
    const v = parseVersion(version);
    return v !== undefined && v.wall > now() + maxAhead;
  };
  return {
    tick() {
      const t = Math.min(now(), MAX_WALL);
      if (t > wall) {
        wall = t;
        counter = 0;
      } else if (counter < MAX_COUNTER) {
        counter++;
      } else if (wall < MAX_WALL) {
        wall++;
        counter = 0;
      }
      return formatVersion({ wall, counter, node: options.nodeId });
    },
    observe(version) {
      const v = parseVersion(version);
      if (!v || v.wall > now() + maxAhead) return false;
      if (v.wall > wall || (v.wall === wall && v.counter > counter)) {
        wall = v.wall;
        counter = v.counter;
      }
      return true;
    },
    tooFarAhead,
  };
}
