// The dashboard's model: what the page knows of the cluster from the MQTT
// messages it has seen, and the figures it shows. Pure (no DOM, no network,
// time passed in), so tests run it under Node (tests/dashboard_model.test.ts).
// Served to the browser as /dashboard/model.js; app.js draws it.

/** Sparklines cover this much time (less while the page is younger: `spanOf`). */
export const WINDOW_MS = 5 * 60_000;
const MIN_SPAN_MS = 60_000;
/** A status older than this many heartbeats is not believed (DESIGN.md section 5). */
const SILENT_BEATS = 3;
/** A status cannot keep itself fresh for longer than 3 × 10 s, whatever heartbeatMs it claims. */
const MAX_HEARTBEAT_MS = 10_000;
/** History points are at least this far apart (prompt statuses on change come up to every 100 ms). */
const MIN_STEP_MS = 900;
const NODE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_FEED = 200;
const MAX_RECORDS = 5000;

/** The payload as a JSON object, or undefined. */
export function parseJson(payload) {
  try {
    const v = JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v) => (typeof v === 'string' ? v : undefined);

/** `topic` split under `prefix`: {kind: 'status'|'file'|'event', node?, path?}, or undefined. */
export function parseTopic(topic, prefix) {
  if (!topic.startsWith(prefix + '/')) return undefined;
  const parts = topic.slice(prefix.length + 1).split('/');
  if (parts[0] === 'nodes' && parts.length === 3 && parts[2] === 'status') return { kind: 'status', node: parts[1] };
  if (parts[0] === 'files' && parts.length > 1) return { kind: 'file' };
  if (parts[0] === 'events' && parts.length === 2) return { kind: 'event', node: parts[1] };
  return undefined;
}

/** Everything the page knows, updated by `onMessage`, read by app.js. */
export class ClusterView {
  constructor() {
    /** id → { status, heardAt, history: [{at, ts, requests, bytes, cpu}] } */
    this.nodes = new Map();
    /** Newest first: {kind: 'change'|'event', at, …}. */
    this.feed = [];
    /** path → newest change seen: {version, origin, seq, deleted}. */
    this.records = new Map();
  }

  /** One MQTT message; returns what changed ('status', 'feed') or undefined when ignored. */
  onMessage(topic, payload, { prefix = 'nuvem', retained = false, now }) {
    const where = parseTopic(topic, prefix);
    const m = where && parseJson(payload);
    if (!m) return undefined;
    if (where.kind === 'status') return this.#onStatus(where.node, m, { retained, now });
    if (where.kind === 'file') return this.#onChange(m, now);
    return this.#onEvent(where.node, m, now);
  }

  #onStatus(id, s, { retained, now }) {
    if (s.id !== id || !NODE_ID.test(id) || !['online', 'draining', 'offline'].includes(s.state)) return undefined;
    let node = this.nodes.get(id);
    if (!node) this.nodes.set(id, (node = { id, status: s, heardAt: now, history: [] }));
    node.status = s;
    // A retained status may be old: its own timestamp says when (capped at now); a live one is now.
    node.heardAt = retained && num(s.ts) !== undefined ? Math.min(now, s.ts) : now;
    if (s.state !== 'offline' && num(s.ts) !== undefined) {
      const point = {
        at: node.heardAt,
        ts: s.ts,
        requests: num(s.requests),
        bytes: num(s.traffic?.in) !== undefined && num(s.traffic?.out) !== undefined ? s.traffic.in + s.traffic.out : undefined,
        cpu: num(s.cpu),
      };
      // Counters are cumulative: a status skipped here is counted in the next point's rate.
      const last = node.history[node.history.length - 1];
      if (!last || point.ts - last.ts >= MIN_STEP_MS || point.ts < last.ts) node.history.push(point);
      while (node.history.length && node.history[0].at < now - WINDOW_MS - 60_000) node.history.shift();
    }
    return 'status';
  }

  #onChange(c, now) {
    const path = str(c.path);
    const op = str(c.op);
    if (!path || !['put', 'delete', 'move', 'mkcol'].includes(op) || !str(c.version) || !str(c.origin) || num(c.seq) === undefined) return undefined;
    this.#learn(path, { version: c.version, origin: c.origin, seq: c.seq, deleted: c.deleted === true });
    if (op === 'move' && str(c.from)) this.#learn(c.from, { version: c.fromPrev ?? c.version, origin: c.origin, seq: c.seq, deleted: true });
    this.#push({ kind: 'change', at: now, op, path, from: str(c.from), size: num(c.size), origin: c.origin, folder: c.type === 'folder' });
    return 'feed';
  }

  #onEvent(node, e, now) {
    const type = str(e.type);
    if (!type) return undefined;
    this.#push({ kind: 'event', at: now, type, node: str(e.node) ?? node, path: str(e.path), winner: str(e.winner), loser: str(e.loser), count: num(e.count) });
    return 'feed';
  }

  #learn(path, record) {
    const known = this.records.get(path);
    if (known && known.version > record.version) return;
    this.records.delete(path); // re-inserted last: the map keeps the most recently changed paths
    this.records.set(path, record);
    if (this.records.size > MAX_RECORDS) this.records.delete(this.records.keys().next().value);
  }

  #push(entry) {
    this.feed.unshift(entry);
    if (this.feed.length > MAX_FEED) this.feed.length = MAX_FEED;
  }

  /** Nodes sorted by id. */
  list() {
    return [...this.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

/** How long ago the node was heard from, in ms. */
export function heartbeatAge(node, now) {
  return Math.max(0, now - node.heardAt);
}

/**
 * online | draining | offline: what the node said, except that a node
 * silent for 3 heartbeats is offline (a vanished host sends no Last Will
 * until the broker's keepalive runs out).
 */
export function stateOf(node, now) {
  const s = node.status;
  if (s.state === 'offline') return 'offline';
  const beat = Math.min(num(s.heartbeatMs) ?? 1000, MAX_HEARTBEAT_MS);
  return heartbeatAge(node, now) >= SILENT_BEATS * beat ? 'offline' : s.state;
}

/**
 * The sparkline series of a node over the last WINDOW_MS: `ops` (requests
 * answered per second), `bytes` (file bytes in and out per second) and
 * `cpu` (0 to 1), as [{at, v}]. Rates come from consecutive heartbeats'
 * counters and the node's own timestamps; a counter that went down (a
 * restart) starts over.
 */
export function seriesOf(node, now) {
  const out = { ops: [], bytes: [], cpu: [] };
  const from = now - WINDOW_MS;
  let prev;
  for (const p of node.history) {
    const base = prev;
    if (p.at >= from) {
      if (p.cpu !== undefined) out.cpu.push({ at: p.at, v: p.cpu });
      if (base && p.ts > base.ts) {
        const seconds = (p.ts - base.ts) / 1000;
        for (const key of ['requests', 'bytes']) {
          const a = base[key];
          const b = p[key];
          if (a !== undefined && b !== undefined && b >= a) out[key === 'requests' ? 'ops' : 'bytes'].push({ at: p.at, v: (b - a) / seconds });
        }
      }
    }
    prev = p;
  }
  return out;
}

/**
 * Freshness rule (DESIGN.md section 4): node N holds change (origin O, seq
 * s) iff N is O or N.applied[O] >= s. For each node: {id, holds, state}.
 */
export function holdersOf(record, nodes, now) {
  return nodes.map((n) => {
    const applied = n.status.applied && typeof n.status.applied === 'object' ? n.status.applied : {};
    const holds = n.id === record.origin || (num(applied[record.origin]) ?? 0) >= record.seq;
    return { id: n.id, holds, state: stateOf(n, now) };
  });
}

/** The newer of two known records of a path (versions order as strings); either may be undefined. */
export function newerOf(a, b) {
  if (!a) return b;
  if (!b) return a;
  return b.version > a.version ? b : a;
}

/** A path as typed: trimmed, no leading `/`, NFC; '' when nothing usable. */
export function cleanPath(text) {
  return String(text).trim().replace(/^\/+/, '').normalize('NFC');
}

/** `/files/` URL of a path, each segment percent-encoded. */
export function fileUrl(path) {
  return 'files/' + path.split('/').map(encodeURIComponent).join('/');
}

/**
 * The broker's WebSocket URL as this browser should use it: a loopback or
 * wildcard host is replaced by the page's own host when the page was not
 * opened on loopback (the node knows the broker as 127.0.0.1; a browser
 * elsewhere reaches it under the name it reached the node by).
 */
export function brokerUrlFor(brokerWs, pageHost) {
  let url;
  try {
    url = new URL(brokerWs);
  } catch {
    return undefined;
  }
  const local = (h) => h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h) || h === '0.0.0.0' || h === '[::]';
  if (local(url.hostname) && pageHost && !local(pageHost)) url.hostname = pageHost;
  return url.href;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n) {
  if (num(n) === undefined || n < 0) return '–';
  let v = n;
  let unit = 0;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatRate(n, unit) {
  if (num(n) === undefined) return '–';
  if (unit === 'B/s') return `${formatBytes(Math.round(n))}/s`;
  return `${n < 10 ? n.toFixed(1) : Math.round(n)}/s`;
}

export function formatPercent(share) {
  return num(share) === undefined ? '–' : `${Math.round(share * 100)}%`;
}

export function formatAge(ms) {
  if (ms < 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** `15:58:01`, local time. */
export function formatClock(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * The time the sparklines span: what the page has seen, at least a minute,
 * at most WINDOW_MS (so a page opened a moment ago does not squeeze its few
 * points into the right edge).
 */
export function spanOf(openedAt, now) {
  return Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - openedAt));
}

/** SVG polyline points for `series` in a box `width` × `height`, over [now - span, now]; `max` is the least top of the y scale. */
export function sparkPoints(series, now, { width = 100, height = 24, max, span = WINDOW_MS }) {
  const shown = series.filter((p) => p.at >= now - span);
  const top = Math.max(max ?? 0, ...shown.map((p) => p.v), 1e-9);
  return shown
    .map((p) => {
      const x = ((p.at - (now - span)) / span) * width;
      const y = height - 1 - (p.v / top) * (height - 2);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}
