/**
 * The single-node benchmark's table and target checks: one row per metric,
 * one column per system, then Nuvem ÷ each reference.
 */
import type { WrkResult } from "./load.ts";

export interface SystemResult {
  name: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  put_big_mbps?: number;
  put_big_runs_mbps?: number[];
  get_big_mbps?: number;
  get_big_runs_mbps?: number[];
  put_small?: WrkResult;
  get_small?: WrkResult;
  get_small_memory?: WrkResult;
  /** req/s of every round of the 4 KiB loads (the median round is the figure above). */
  put_small_rounds_rps?: number[];
  get_small_rounds_rps?: number[];
  get_small_memory_rounds_rps?: number[];
  peak_rss_mib?: number;
  peak_rss_how?: string;
  peak_rss_since_start_mib?: number;
  rss_before_mib?: number;
  rss_start_mib?: number;
  errors: Record<string, string>;
}

export interface Systems { nuvem: SystemResult; ref: SystemResult; nginx: SystemResult }

type Pick = (s: SystemResult) => number | undefined;
interface Row { label: string; pick: Pick; digits: number; nuvemPick?: Pick; onlyRef?: boolean }

export function rows(big: string, rssSize: string): Row[] {
  return [
    { label: `${big} PUT, MB/s`, pick: (s) => s.put_big_mbps, digits: 0 },
    { label: `${big} GET, MB/s`, pick: (s) => s.get_big_mbps, digits: 0 },
    { label: "4 KiB PUT, req/s", pick: (s) => s.put_small?.rps, digits: 0 },
    { label: "4 KiB PUT p50, ms", pick: (s) => s.put_small?.p50ms, digits: 2 },
    { label: "4 KiB PUT p99, ms", pick: (s) => s.put_small?.p99ms, digits: 2 },
    { label: "4 KiB GET, req/s", pick: (s) => s.get_small?.rps, digits: 0 },
    { label: "4 KiB GET p50, ms", pick: (s) => s.get_small?.p50ms, digits: 2 },
    { label: "4 KiB GET p99, ms", pick: (s) => s.get_small?.p99ms, digits: 2 },
    {
      label: "4 KiB GET, req/s, ref from RAM",
      pick: (s) => s.get_small_memory?.rps,
      nuvemPick: (s) => s.get_small?.rps,
      digits: 0,
      onlyRef: true,
    },
    { label: `peak RSS in ${rssSize} PUT, MiB`, pick: (s) => s.peak_rss_mib, digits: 0 },
    { label: `RSS before that PUT, MiB`, pick: (s) => s.rss_before_mib, digits: 0 },
    { label: "RSS idle at start, MiB", pick: (s) => s.rss_start_mib, digits: 0 },
  ];
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

/** Ratios Nuvem ÷ reference for every row, keyed by row label. */
export function ratios(sys: Systems, big: string, rssSize: string): Record<string, { node_ref?: number; nginx?: number }> {
  const out: Record<string, { node_ref?: number; nginx?: number }> = {};
  for (const r of rows(big, rssSize)) {
    const n = (r.nuvemPick ?? r.pick)(sys.nuvem);
    out[r.label] = { node_ref: ratio(n, r.pick(sys.ref)), nginx: r.onlyRef ? undefined : ratio(n, r.pick(sys.nginx)) };
  }
  return out;
}

/** The side-by-side table as text. */
export function table(sys: Systems, big: string, rssSize: string): string {
  const head = ["metric", "Nuvem", "Node ref", "nginx", "Nuvem/Node ref", "Nuvem/nginx"];
  const body = rows(big, rssSize).map((r) => {
    const n = (r.nuvemPick ?? r.pick)(sys.nuvem);
    const ref = r.pick(sys.ref);
    const ngx = r.onlyRef ? undefined : r.pick(sys.nginx);
    const x = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)}×`);
    return [r.label, fmt(n, r.digits), fmt(ref, r.digits), r.onlyRef ? "-" : fmt(ngx, r.digits),
      x(ratio(n, ref)), r.onlyRef ? "-" : x(ratio(n, ngx))];
  });
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export interface Target { name: string; want: string; got?: number; met?: boolean; why?: string }

/** The Nuvem targets, checked (never thrown). */
export function targets(sys: Systems, big: string): Target[] {
  const n = sys.nuvem;
  const r = sys.ref;
  const vsRef = (name: string, pick: Pick, min: number): Target => {
    const got = ratio(pick(n), pick(r));
    const why = pick(n) === undefined ? `no Nuvem figure (${n.reason ?? "failed"})`
      : pick(r) === undefined ? `no Node ref figure (${r.reason ?? "failed"})` : undefined;
    return { name, want: `≥ ${min.toFixed(2)}× Node ref`, got, met: got === undefined ? undefined : got >= min, why };
  };
  const rss = n.peak_rss_mib;
  return [
    vsRef(`${big} PUT`, (s) => s.put_big_mbps, 0.95),
    vsRef(`${big} GET`, (s) => s.get_big_mbps, 1.0),
    vsRef("4 KiB GET", (s) => s.get_small?.rps, 4.0),
    vsRef("4 KiB PUT", (s) => s.put_small?.rps, 1.0),
    {
      name: "peak RSS",
      want: "< 120 MiB",
      got: rss,
      met: rss === undefined ? undefined : rss < 120,
      why: rss === undefined ? `no Nuvem figure (${n.reason ?? n.errors.peak_rss ?? "failed"})` : undefined,
    },
  ];
}

export function targetLines(ts: Target[]): string {
  return ts.map((t) => {
    const state = t.met === undefined ? "n/a " : t.met ? "met " : "MISS";
    const got = t.got === undefined ? (t.why ?? "n/a")
      : t.name === "peak RSS" ? `${t.got.toFixed(0)} MiB` : `${t.got.toFixed(2)}×`;
    return `  [${state}] ${t.name.padEnd(12)} ${t.want.padEnd(20)} got ${got}`;
  }).join("\n");
}
