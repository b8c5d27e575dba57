/**
 * The cluster benchmark's results, table (one column per broker, then
 * Aedes ÷ Mosquitto) and target checks (printed, never failures).
 */
import { cpus } from "node:os";
import type { WrkResult } from "./load.ts";

export interface LatencyResult { requests: number; p50ms: number; p99ms: number; meanms: number; maxms: number; non2xx: number; firstError?: string }
export interface ThroughputResult extends WrkResult { drain_s?: number }
export interface AckResult {
  samples: number;
  runs_ms: number[];
  median_ms: number;
  p90_ms: number;
  max_ms: number;
  first_ack_median_ms: number;
  /** Arrival here of node-1's change notice (nuvem/files/…) → last ack, and notice arrival − 2xx (negative: before the 2xx). */
  notice_to_last_ack_median_ms: number;
  notice_minus_2xx_median_ms: number;
  notices_seen: number;
  /** PUTs for which not both replicas' acks arrived within the wait. */
  missing: number;
  missing_detail: string[];
}
export interface FailureResult {
  runs_ms: number[];
  median_ms: number;
  /** kill -9 → node-1's /status lists the victim as offline (polled every 20 ms). */
  peer_view_runs_ms: number[];
  peer_view_median_ms: number;
  /** restart → "online" status seen, and → converged again. */
  restart_online_ms: number[];
  restart_converged_ms: number[];
}
export interface CatchupResult {
  files: number;
  write_s: number;
  write_rps: number;
  /** after the last 2xx, until node-2 had applied all of node-1's changes. */
  node2_drain_s: number;
  /** [seconds after the last write, node-2's applied[node-1]], every 5 s while it drained. */
  node2_progress: [number, number][];
  node1_seq: number;
  node3_applied_before: number;
  from_spawn_s?: number;
  from_listening_s?: number;
  /** CPU (user + system, all threads) node 3 used from spawn until caught up. */
  node3_cpu_s?: number;
  /** [seconds from spawn, applied[node-1] on node 3], about once a second. */
  progress: [number, number][];
  files_equal?: boolean;
}
export interface BigResult {
  runs_mbps: number[];
  mbps: number;
  /** CPU per PUT (median), of the nodes and of this bench's client, and the PUT's wall time (median), in ms. */
  nodes_cpu_ms?: number;
  client_cpu_ms?: number;
  wall_ms?: number;
}

export interface BrokerResult {
  name: "aedes" | "mosquitto";
  version?: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  errors: Record<string, string>;
  /** Odd things seen while measuring (replication problems), in plain words. */
  notes: string[];
  lat_w1?: LatencyResult;
  lat_auto?: LatencyResult;
  tput_w1?: ThroughputResult;
  tput_auto?: ThroughputResult;
  ack_small?: AckResult;
  ack_big?: AckResult;
  failure?: FailureResult;
  catchup?: CatchupResult;
  repl_big?: BigResult;
  single_big?: BigResult;
  load_start?: number;
  load_end?: number;
}

export interface Brokers { aedes: BrokerResult; mosquitto: BrokerResult }

type Pick = (b: BrokerResult) => number | undefined;
interface Row { label: string; pick: Pick; digits: number }

export function rows(files: number): Row[] {
  return [
    { label: "4 KiB PUT w=1 c=1 p50, ms", pick: (b) => b.lat_w1?.p50ms, digits: 2 },
    { label: "4 KiB PUT w=1 c=1 p99, ms", pick: (b) => b.lat_w1?.p99ms, digits: 2 },
    { label: "4 KiB PUT w=auto c=1 p50, ms", pick: (b) => b.lat_auto?.p50ms, digits: 2 },
    { label: "4 KiB PUT w=auto c=1 p99, ms", pick: (b) => b.lat_auto?.p99ms, digits: 2 },
    { label: "4 KiB PUT w=1 c=16, req/s", pick: (b) => b.tput_w1?.rps, digits: 0 },
    { label: "  p50, ms", pick: (b) => b.tput_w1?.p50ms, digits: 2 },
    { label: "  p99, ms", pick: (b) => b.tput_w1?.p99ms, digits: 2 },
    { label: "  replicas drain the backlog, s", pick: (b) => b.tput_w1?.drain_s, digits: 2 },
    { label: "4 KiB PUT w=auto c=16, req/s", pick: (b) => b.tput_auto?.rps, digits: 0 },
    { label: "  p50, ms", pick: (b) => b.tput_auto?.p50ms, digits: 2 },
    { label: "  p99, ms", pick: (b) => b.tput_auto?.p99ms, digits: 2 },
    { label: "2xx → last ack, 4 KiB, median ms", pick: (b) => b.ack_small?.median_ms, digits: 2 },
    { label: "  p90, ms", pick: (b) => b.ack_small?.p90_ms, digits: 2 },
    { label: "  2xx → change notice, median ms", pick: (b) => b.ack_small?.notice_minus_2xx_median_ms, digits: 2 },
    { label: "  change notice → last ack, median ms", pick: (b) => b.ack_small?.notice_to_last_ack_median_ms, digits: 2 },
    { label: "2xx → last ack, 64 MiB, median ms", pick: (b) => b.ack_big?.median_ms, digits: 0 },
    { label: "  change notice → last ack, median ms", pick: (b) => b.ack_big?.notice_to_last_ack_median_ms, digits: 0 },
    { label: "kill -9 → offline status, median ms", pick: (b) => b.failure?.median_ms, digits: 1 },
    { label: "kill -9 → node-1 /status offline, ms", pick: (b) => b.failure?.peer_view_median_ms, digits: 1 },
    { label: `catch-up ${files.toLocaleString("en-US")} files from spawn, s`, pick: (b) => b.catchup?.from_spawn_s, digits: 2 },
    { label: "  from \"listening\", s", pick: (b) => b.catchup?.from_listening_s, digits: 2 },
    { label: "  CPU of the catching-up node, s", pick: (b) => b.catchup?.node3_cpu_s, digits: 2 },
    { label: "64 MiB PUT w=auto, 3 nodes, MB/s", pick: (b) => b.repl_big?.mbps, digits: 0 },
    { label: "64 MiB PUT w=1, single node, MB/s", pick: (b) => b.single_big?.mbps, digits: 0 },
    { label: "  replicated ÷ single node", pick: (b) => replRatio(b), digits: 2 },
    { label: "  CPU per PUT, cluster nodes, ms", pick: (b) => b.repl_big?.nodes_cpu_ms, digits: 0 },
    { label: "  CPU per PUT, single node, ms", pick: (b) => b.single_big?.nodes_cpu_ms, digits: 0 },
    { label: "  ceiling with every core busy", pick: (b) => replCeiling(b, cpus().length), digits: 2 },
  ];
}

/**
 * The best the replicated PUT could do against the single node on this
 * machine, if the cluster kept every core busy: its CPU (nodes and client)
 * spread over `cores`, against the single node's wall time.
 */
export function replCeiling(b: BrokerResult, cores: number): number | undefined {
  const r = b.repl_big, s = b.single_big;
  if (r?.nodes_cpu_ms === undefined || r.client_cpu_ms === undefined || s?.wall_ms === undefined) return undefined;
  return s.wall_ms / ((r.nodes_cpu_ms + r.client_cpu_ms) / cores);
}

export function replRatio(b: BrokerResult): number | undefined {
  return b.repl_big && b.single_big && b.single_big.mbps > 0 ? b.repl_big.mbps / b.single_big.mbps : undefined;
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined;
}

/** The table's rows as data (sub-rows keep their indentation in `metric`). */
export function tableRows(sys: Brokers, files: number): { metric: string; aedes?: number; mosquitto?: number; aedes_over_mosquitto?: number }[] {
  return rows(files).map((r) => {
    const aedes = r.pick(sys.aedes);
    const mosquitto = r.pick(sys.mosquitto);
    return { metric: r.label, aedes, mosquitto, aedes_over_mosquitto: ratio(aedes, mosquitto) };
  });
}

export function table(sys: Brokers, files: number): string {
  const head = ["metric (3 nodes, loopback)", "Aedes", "Mosquitto", "Aedes/Mosquitto"];
  const body = rows(files).map((r) => {
    const a = r.pick(sys.aedes);
    const m = r.pick(sys.mosquitto);
    const x = ratio(a, m);
    return [r.label, fmt(a, r.digits), fmt(m, r.digits), x === undefined ? "n/a" : `${x.toFixed(2)}×`];
  });
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export interface Target { broker: string; name: string; want: string; got?: number; unit: string; met?: boolean; why?: string }

/** Targets per broker; `files` is how many files the catch-up wrote (the 5 s target is for 10,000, scaled otherwise). */
export function targets(sys: Brokers, files: number): Target[] {
  const out: Target[] = [];
  const catchLimit = 5 * (files / 10_000);
  for (const b of [sys.aedes, sys.mosquitto]) {
    const why = b.status !== "ok" ? `${b.status}: ${b.reason}` : undefined;
    const t = (name: string, want: string, unit: string, got: number | undefined, ok: (v: number) => boolean, err?: string): Target =>
      ({ broker: b.name, name, want, unit, got, met: got === undefined || !Number.isFinite(got) ? undefined : ok(got), why: got === undefined ? (why ?? err ?? "no figure") : undefined });
    out.push(
      t("w=auto 4 KiB PUT p50", "< 10 ms", "ms", b.lat_auto?.p50ms, (v) => v < 10, b.errors.lat_auto),
      t("w=auto 4 KiB PUT p99", "< 50 ms", "ms", b.lat_auto?.p99ms, (v) => v < 50, b.errors.lat_auto),
      t("failure detection", "< 1 s", "ms", b.failure?.median_ms, (v) => v < 1000, b.errors.failure),
      t(`catch-up ${files.toLocaleString("en-US")} files`, files === 10_000 ? "< 5 s" : `< ${catchLimit.toFixed(1)} s (5 s per 10,000, scaled)`, "s",
        b.catchup?.from_spawn_s, (v) => v < catchLimit, b.errors.catchup),
      t("64 MiB replication", "≥ 0.50× single node", "×", replRatio(b), (v) => v >= 0.5, b.errors.repl_big ?? b.errors.single_big),
    );
  }
  return out;
}

export function targetLines(ts: Target[]): string {
  return ts.map((t) => {
    const state = t.met === undefined ? "n/a " : t.met ? "met " : "MISS";
    const got = t.got === undefined || !Number.isFinite(t.got) ? (t.why ?? "n/a")
      : t.unit === "×" ? `${t.got.toFixed(2)}×` : t.unit === "s" ? `${t.got.toFixed(2)} s` : `${t.got.toFixed(1)} ms`;
    return `  [${state}] ${t.broker.padEnd(9)} ${t.name.padEnd(24)} ${t.want.padEnd(36)} got ${got}`;
  }).join("\n");
}
