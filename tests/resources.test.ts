/**
 * The heartbeat's resource report (nodes/resources.ts) with a fake clock and
 * fake figures, no sockets: cpu is the busy share of the interval between
 * samples, a sample is taken at most once per interval, odd figures never
 * break a heartbeat; and the machine's own figures are plausible.
 */
import os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createResourceSampler, diskUsage, systemSources, type ResourceSources } from '../nodes/resources.ts';
import { tempDir } from './_support/temp.ts';

function fakeSources(): ResourceSources & { busy: number; total: number; calls: number } {
  const s = {
    busy: 0,
    total: 0,
    calls: 0,
    cpuTimes() {
      s.calls++;
      return { busy: s.busy, total: s.total };
    },
    loadavg: () => 0.4567,
    rss: () => 50_000_000,
    freemem: () => 3_000_000_000,
    totalmem: () => 8_000_000_000,
  };
  return s;
}

test('cpu is the busy share of all cores between two samples; one sample per interval', () => {
  let now = 1000;
  const sources = fakeSources();
  const sampler = createResourceSampler({ intervalMs: 1000, now: () => now, sources });
  assert.equal(sampler.read(), { cpu: 0, load: 0.46, mem: { rss: 50_000_000, free: 3_000_000_000, total: 8_000_000_000 } }, 'no interval yet: 0');
  sources.busy += 250;
  sources.total += 1000;
  now += 400;
  assert.is(sampler.read().cpu, 0, 'within the interval: the last figures, no new sample');
  const calls = sources.calls;
  now += 600;
  assert.is(sampler.read().cpu, 0.25, 'a whole interval: 250 of 1000 busy');
  assert.is(sources.calls, calls + 1);
  sources.busy += 1000;
  sources.total += 1000;
  now += 1000;
  assert.is(sampler.read().cpu, 1);
  sources.busy += 1;
  sources.total += 3;
  now += 1000;
  assert.is(sampler.read().cpu, 0.333, 'rounded to 3 digits');
});

test('figures that make no sense keep the last cpu, and a failing source reports 0, never throws', () => {
  let now = 0;
  const sources = fakeSources();
  const sampler = createResourceSampler({ intervalMs: 100, now: () => now, sources });
  sources.busy = 50;
  sources.total = 100;
  now += 100;
  assert.is(sampler.read().cpu, 0.5);
  sources.busy = 10; // counters went back (a wrapped or reset counter)
  sources.total = 50;
  now += 100;
  assert.is(sampler.read().cpu, 0.5, 'unchanged');
  sources.busy = 10;
  sources.total = 50; // no time passed on the CPUs
  now += 100;
  assert.is(sampler.read().cpu, 0.5);
  const broken = createResourceSampler({
    now: () => now,
    sources: {
      cpuTimes: () => {
        throw new Error('no permission');
      },
      loadavg: () => NaN,
      rss: () => -1,
      freemem: () => Infinity,
      totalmem: () => {
        throw new Error('no permission');
      },
    },
  });
  assert.equal(broken.read(), { cpu: 0, load: 0, mem: { rss: 0, free: 0, total: 0 } });
});

test('the machine\'s own figures are plausible', async () => {
  const times = systemSources.cpuTimes();
  assert.ok(times && times.total > 0 && times.busy >= 0 && times.busy <= times.total, JSON.stringify(times));
  const sampler = createResourceSampler({ intervalMs: 0 });
  // Some work between two samples, so the second covers a real interval.
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  const r = sampler.read();
  assert.ok(r.cpu >= 0 && r.cpu <= 1, `cpu ${r.cpu}`);
  assert.ok(r.load >= 0, `load ${r.load}`);
  assert.ok(r.mem.rss > 10 * 2 ** 20, `rss ${r.mem.rss}`);
  assert.is(r.mem.total, os.totalmem());
  assert.ok(r.mem.free > 0 && r.mem.free <= r.mem.total);
  const dir = tempDir('disk');
  try {
    const disk = await diskUsage(dir.path);
    assert.ok(disk.total > 0 && disk.free >= 0 && disk.free <= disk.total, JSON.stringify(disk));
  } finally {
    dir.cleanup();
  }
});

test.run();
