/**
 * The node's own gauges and counters on `/metrics` beyond those the HTTP
 * functions, the replicator and anti-entropy register where the work
 * happens: resource figures (the heartbeat's), process CPU time, and per
 * peer what its last heartbeat said. Names and units follow Prometheus
 * conventions (`_total` counters, `_bytes`, `_seconds`, `_ratio`).
 */
import process from 'node:process';
import type { Metrics } from '../protocol/metrics.ts';
import { isOnline, type Membership } from './membership.ts';
import type { ResourceSampler } from './resources.ts';

export function registerNodeMetrics(metrics: Metrics, sources: {
  resources: ResourceSampler;
  disk: () => { free: number; total: number } | undefined;
  membership: Membership;
  startedAt: number;
  now?: () => number;
}): void {
  const { resources, disk, membership } = sources;
  const now = sources.now ?? Date.now;
  metrics.gauge('nuvem_cpu_busy_ratio', 'Share of all cores of the machine busy over the last sampling interval (0 to 1)', () => resources.read().cpu);
  metrics.gauge('nuvem_load1', '1-minute load average of the machine', () => resources.read().load);
  metrics.gauge('nuvem_system_memory_free_bytes', 'Memory of the machine available to programs', () => resources.read().mem.free);
  metrics.gauge('nuvem_system_memory_total_bytes', 'Memory of the machine', () => resources.read().mem.total);
  metrics.gauge('nuvem_disk_free_bytes', 'Free space on the file system of the data folder (for unprivileged users)', () => disk()?.free ?? 0);
  metrics.gauge('nuvem_disk_total_bytes', 'Size of the file system of the data folder', () => disk()?.total ?? 0);
  metrics.counterFrom('nuvem_process_cpu_seconds_total', 'CPU time of the node process, by mode', () => {
    const { user, system } = process.cpuUsage();
    return [{ labels: { mode: 'user' }, value: user / 1e6 }, { labels: { mode: 'system' }, value: system / 1e6 }];
  });
  metrics.gauge('nuvem_process_start_time_seconds', 'When the node process started, in seconds since the Unix epoch', () => sources.startedAt / 1000);
  metrics.gauge('nuvem_peer_up', 'Whether a peer is online (its last heartbeat says online and is younger than 3 intervals)', () =>
    membership.known().map((m) => ({ labels: { peer: m.id }, value: isOnline(m, now()) ? 1 : 0 })));
  metrics.gauge('nuvem_peer_replication_lag', 'Changes a peer knew of and had not applied, as its last heartbeat said', () =>
    membership.known().filter((m) => m.status).map((m) => ({ labels: { peer: m.id }, value: m.status!.lag })));
}
