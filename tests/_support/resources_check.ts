/** Checks a status message's resource report against this machine (heartbeat tests under Node and Deno). */
import os from 'node:os';
import * as assert from 'uvu/assert';
import { parseStatusMessage } from '../../protocol/messages.ts';

/** cpu, load, mem and disk present and plausible; the traffic counters present. */
// deno-lint-ignore no-explicit-any -- status payloads are read untyped
export function assertPlausibleResources(s: any, what: string): void {
  assert.ok(parseStatusMessage(JSON.stringify(s)).ok, `${what}: a valid status`);
  assert.type(s.cpu, 'number', `${what}: cpu`);
  assert.ok(s.cpu >= 0 && s.cpu <= 1, `${what}: cpu ${s.cpu}`);
  assert.ok(s.load >= 0, `${what}: load ${s.load}`);
  assert.ok(s.mem.rss > 10 * 2 ** 20 && s.mem.rss < s.mem.total, `${what}: rss ${s.mem.rss}`);
  assert.is(s.mem.total, os.totalmem(), `${what}: the machine's memory`);
  assert.ok(s.mem.free > 0 && s.mem.free <= s.mem.total, `${what}: free memory ${s.mem.free}`);
  assert.ok(s.disk.total > 0 && s.disk.free > 0 && s.disk.free <= s.disk.total, `${what}: disk ${JSON.stringify(s.disk)}`);
  assert.type(s.requests, 'number');
  assert.type(s.traffic.in, 'number');
  assert.type(s.traffic.out, 'number');
}

