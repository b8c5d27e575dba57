/**
 * Wires a storage node: store, HTTP app, status, bus. Runtime specifics (how
 * to listen, how to read disk usage) come in through `Runtime`.
 */
import type { EventMessage } from '../protocol/messages.ts';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import type { Context, Hono } from 'hono';
import { createApp, type Deps, type FastRead, type FastWrite } from '../functions/mod.ts';
import { startAntiEntropy } from './anti_entropy.ts';
import { brokerWsUrl, type NodeConfig } from './config.ts';
import { loadDashboardAssets } from './dashboard_assets.ts';
import { registerNodeMetrics } from './node_metrics.ts';
import { DiskSpace } from './disk_space.ts';
import { createResourceSampler } from './resources.ts';
import { NuvemError } from '../protocol/errors.ts';
import { createLog, type Log } from '../protocol/log.ts';
import { Metrics } from '../protocol/metrics.ts';
import { Store } from './store.ts';
import { Replicator } from './replicator.ts';
import { hostName } from '../protocol/origins.ts';
import { type ChangeEntry, ChangeLog, changeType } from './change_log.ts';
import { syncFilesFolder } from './folder_sync.ts';
import { startReclaim } from './reclaim.ts';
import type { Change } from '../protocol/record.ts';

export const VERSION = '0.1.0';

export interface Runtime {
  name: string;
  /** Listens; `nodeId` is for runtimes that stamp `X-Nuvem-Node` themselves (`stampsNodeHeader`). */
  /** `fastRead`, `fastWrite`: plain small reads and plain uploads the runtime may answer before the app (functions/mod.ts). */
  serve(
    app: Hono,
    options: { host: string; port: number; nodeId: string; fastRead?: FastRead; fastWrite?: FastWrite },
  ): Promise<{ port: number; close(): Promise<void> }>;
  stampsNodeHeader?: boolean;
  diskUsage(dir: string): Promise<{ free: number; total: number } | undefined>;
  rawTarget?(c: Context): string | undefined;
  requestHeader?(c: Context, name: string): string | undefined;
  requestBody?(c: Context): AsyncIterable<Uint8Array> | undefined;
}

export interface RunningNode {
  id: string;
  url: string;
  store: Store;
  app: Hono;
  log: Log;
  stop(): Promise<void>;
}

/** Seams for tests: the index's WAL fsync, and what a failed one does (default: exit 1). */
export interface NodeHooks {
  syncWal?: (walPath: string) => Promise<void>;
  exit?: (code: number) => void;
}

/** Opens the store, checks it against the files folder, and starts serving. */
export async function startNode(config: NodeConfig, runtime: Runtime, hooks: NodeHooks = {}): Promise<RunningNode> {
  const id = await resolveNodeId(config);
  const log = createLog({ level: config.logLevel, node: id });
  const metrics = new Metrics();
  const staged = metrics.counter('nuvem_staged_total', 'Uploads peers streamed here while arriving, by what became of them');
  const store = await Store.open({
    dataDir: config.dataDir,
    nodeId: id,
    keepRevisions: config.keepRevisions,
    trashMs: config.trashMs,
    changesKeep: config.changesKeep,
    acceptVanished: config.acceptVanished,
    onStaging: (outcome) => staged({ outcome }),
    syncWal: hooks.syncWal,
    // fsyncgate: after a failed fsync the kernel may have dropped the pages it
    // could not write, and a later fsync can succeed without them. Nothing
    // unsynced is published; the node stops, and its restart recovers from what is on disk.
    onFatal: (err) => {
      log('error', 'the index\'s write-ahead log could not be flushed to disk; stopping the node so that nothing unsynced is published', {
        error: String((err as Error)?.stack ?? err),
      });
      (hooks.exit ?? process.exit)(1);
    },
    onListenerError: (err) => log('error', 'a change listener failed; the change itself is committed', { error: String((err as Error)?.stack ?? err) }),
    materialiseMs: config.materialiseMs,
    onSmallError: (err, path) => log('error', 'could not write a small file in the files folder; its bytes are in the index and it is written again at start', { path, error: String(err) }),
    onMoveRetry: (err) => log('warn', 'a folder move could not commit a batch of its entries; trying again until it does', { error: String((err as Error)?.message ?? err) }),
  });
  const changeLog = new ChangeLog({ folder: join(config.dataDir, '.nuvem'), log });
  store.onChange((changes, sources) => changes.forEach((c, i) => changeLog.append(changeLogEntry(c, sources[i]))));
  const recovered = await store.recover({ startUp: true, acceptVanished: config.acceptVanished });
  if (recovered.changed.length) log('info', 'files changed while the node was down became new versions', { paths: recovered.changed.slice(0, 100), count: recovered.changed.length });
  if (recovered.folderMove) {
    const { from, to, completed, moved } = recovered.folderMove;
    log('info', completed ? 'a folder move a crash interrupted was completed' : 'a folder move a crash interrupted before its rename was dropped', { from, to, moved });
  }
  if (recovered.adopted.length) log('info', 'files renamed into place just before a crash were committed as the versions they were written as', { paths: recovered.adopted.slice(0, 100) });
  if (recovered.rewritten.length) log('info', 'small files written before a crash were written again from the index', { paths: recovered.rewritten.slice(0, 100), count: recovered.rewritten.length });
  if (recovered.deferred) log('warn', 'the disk is full: changes found in the files folder wait for the next rescan', { count: recovered.deferred });
  if (recovered.skipped.length) log('warn', 'files folder holds names that are not valid paths; left alone', { names: recovered.skipped.slice(0, 100) });

  const startedAt = Date.now();
  let state: 'online' | 'draining' = 'online';
  let url = '';
  // Free space (status, /health) and the reserve below which uploads get 507 (disk_space.ts).
  // Crossing the reserve is logged, and announced as a `disk_low` event once the broker is there.
  const announce: { event?: (event: EventMessage) => void } = {};
  const space = new DiskSpace({
    usage: () => runtime.diskUsage(config.dataDir),
    reserve: config.reserve,
    onCross: (full, disk) => {
      if (!full) return log('info', 'the disk is above its reserve again: uploads are taken', { disk });
      log('warn', 'the disk is full (below its reserve): uploads are refused; reads, deletes and moves still work', { disk });
      announce.event?.({ type: 'disk_low', free: disk.free, total: disk.total, reserve: disk.reserve });
    },
  });
  await space.refresh();
  const diskTimer = setInterval(() => void space.refresh(), 5000);
  // cpu, load and mem for every heartbeat, sampled at most once per heartbeat interval (resources.ts).
  const resources = createResourceSampler({ intervalMs: config.heartbeatMs });
  const nodeStatus = () => {
    const totals = store.index.totals(); // kept by the index, no scan (index_db.ts)
    return {
      id,
      url,
      state,
      ts: Date.now(),
      startedAt,
      heartbeatMs: config.heartbeatMs,
      files: totals.files,
      bytes: totals.bytes,
      disk: space.last ?? { free: 0, total: 0 },
      inflight: metrics.value('nuvem_http_inflight_requests'),
      version: VERSION,
      ...resources.read(),
      requests: metrics.value('nuvem_http_requests_total'),
      traffic: { in: metrics.value('nuvem_received_bytes_total'), out: metrics.value('nuvem_sent_bytes_total') },
      runtime: runtime.name,
    };
  };
  const replicator = new Replicator({
    store,
    brokerUrl: config.broker,
    token: config.token,
    nodeToken: config.nodeToken,
    heartbeatMs: config.heartbeatMs,
    status: nodeStatus,
    log,
    metrics,
    memberTtlMs: config.memberTtlMs,
    peerAnswerMs: config.peerAnswerMs,
  });
  announce.event = (event) => replicator.publishEvent(event);
  const status = () => replicator.status();
  metrics.gauge('nuvem_files', 'Live files held by this node', () => nodeStatus().files);
  metrics.gauge('nuvem_process_memory_bytes', 'Memory of the node process, by kind (resident set, JS heap, buffers outside it)', () => {
    const m = process.memoryUsage();
    return Object.entries({ rss: m.rss, heap_total: m.heapTotal, heap_used: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers })
      .map(([kind, value]) => ({ labels: { kind }, value }));
  });
  metrics.gauge('nuvem_bytes', 'Bytes of live files held by this node', () => nodeStatus().bytes);
  metrics.gauge('nuvem_tombstones', 'Tombstones (records of deletes) in the index, purged once every member has applied them', () => store.index.totals().tombstones);
  metrics.gauge('nuvem_small_files_unmaterialised', 'Small files committed with their bytes in the index whose plain file is not yet synced (small_files.ts)', () => store.index.unmaterialisedCount());
  metrics.gauge('nuvem_replication_lag', 'Known changes not yet applied here', () => status().lag as number);
  registerNodeMetrics(metrics, { resources, disk: () => space.last, membership: replicator.membership, startedAt });
  const dashboard = await loadDashboardAssets({ brokerWs: config.brokerWs ?? brokerWsUrl(config.broker) });
  if (dashboard.missing.length) log('warn', 'dashboard files not found; GET / says so', { missing: dashboard.missing });

  const allowedHosts: string[] = [];
  const deps: Deps = {
    nodeId: id,
    store,
    metrics,
    token: config.token,
    nodeToken: config.nodeToken,
    // Filled in once the URL is known (below); a token makes the check unnecessary.
    allowedHosts: config.token ? undefined : allowedHosts,
    replication: replicator,
    status,
    members: replicator,
    unhealthy: () => {
      if (state === 'draining') return 'the node is stopping';
      if (space.full()) return 'the disk is full';
      return undefined;
    },
    admitUpload: () => space.admit(),
    log,
    dashboard,
    rawTarget: runtime.rawTarget,
    requestHeader: runtime.requestHeader,
    requestBody: runtime.requestBody,
    stampsNodeHeader: runtime.stampsNodeHeader,
  };
  const app = createApp(deps);
  const server = await runtime.serve(app, { host: config.host, port: config.port, nodeId: id, fastRead: app.fastRead, fastWrite: app.fastWrite });
  url = config.publicUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${server.port}`;
  allowedHosts.push(hostName(new URL(url).host));
  // Always printed, whatever the log level: launchers read the URL from it.
  createLog({ level: 'debug', node: id })('info', 'listening', { url, data: config.dataDir, runtime: runtime.name });
  replicator.start();
  const antiEntropy = startAntiEntropy({ store, replicator, intervalMs: config.antiEntropyMs, log, metrics });
  const reclaim = startReclaim({ store, intervalMs: Math.min(config.antiEntropyMs, 60_000), log, metrics });
  const folder = config.watch ? syncFilesFolder(store, { log, rescanMs: config.rescanMs }) : undefined;

  let stopping: Promise<void> | undefined;
  return {
    id,
    url,
    store,
    app,
    log,
    stop: () =>
      (stopping ??= (async () => {
        state = 'draining';
        replicator.publishStatus();
        antiEntropy.stop();
        reclaim.stop();
        clearInterval(diskTimer);
        await folder?.close();
        await server.close();
        await replicator.close();
        await changeLog.close();
        // Small files' plain files synced and marked, so a clean stop leaves none to rewrite at start.
        await store.materialise().catch(() => {});
        store.close();
        log('info', 'stopped');
      })()),
  };
}

/** Writes `text` to `file` so that a crash leaves the old file or the new one, both durable (temp, fsync, rename, folder fsync). */
async function writeDurably(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp`;
  const handle = await fsp.open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(temp, file);
  const dir = await fsp.open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The configured id, or the one kept in the data folder, or a new one kept there. */
async function resolveNodeId(config: NodeConfig): Promise<string> {
  const file = join(config.dataDir, '.nuvem', 'node-id');
  await fsp.mkdir(join(config.dataDir, '.nuvem'), { recursive: true });
  const kept = (await fsp.readFile(file, 'utf8').catch(() => '')).trim();
  if (config.id && kept && config.id !== kept) {
    throw new NuvemError('bad_request', `The data folder ${config.dataDir} belongs to node "${kept}", not "${config.id}"`);
  }
  const id = config.id ?? (kept || `n${randomBytes(4).toString('hex')}`);
  if (id !== kept) await writeDurably(file, id + '\n');
  return id;
}

/** A committed change as a line of `DATA/.nuvem/change_log.jsonl` (change_log.ts). */
export function changeLogEntry(c: Change, source: string): ChangeEntry {
  const file = c.type === 'file' && !c.deleted;
  return {
    type: changeType(c.op, c.prev !== undefined),
    path: c.path,
    from: c.from,
    kind: c.type,
    size: file ? c.size : undefined,
    sha256: file ? c.sha256 : undefined,
    source,
    version: c.version,
  };
}
