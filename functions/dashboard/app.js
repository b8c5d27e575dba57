// The live dashboard (DESIGN.md section 6). Connects to the broker over
// MQTT-over-WebSocket with the MQTT.js browser build this node serves, reads
// the nodes' retained statuses, the change notices and the events, and draws
// them (model.js keeps the state). Everything from a message reaches the page
// through textContent or SVG number attributes, never as HTML.
import mqtt from './mqtt.esm.js';
import {
  brokerUrlFor, ClusterView, cleanPath, fileUrl, formatAge, formatBytes, formatClock, formatPercent, formatRate,
  heartbeatAge, holdersOf, newerOf, seriesOf, spanOf, sparkPoints, stateOf,
} from './model.js';

const TOKEN_KEY = 'nuvem.readToken';
const SVG_NS = 'http://www.w3.org/2000/svg';
const FIELDS = [
  ['lag', 'lag'], ['files', 'files'], ['stored', 'stored'], ['inflight', 'inflight'], ['cpu', 'cpu'], ['load', 'load'],
  ['rss', 'memory'], ['mem', 'machine memory'], ['disk', 'disk'],
];
const SPARKS = [['ops', 'ops/s'], ['bytes', 'bytes/s'], ['cpu', 'cpu']];

const view = new ClusterView();
const cards = new Map(); // node id → its card's elements
const shownFeed = new WeakSet();
const openedAt = Date.now();
let prefix = 'nuvem';
let client;
/** The path box: {path, fromNode?, note} once a path was asked for. */
let lookedUp;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function setConn(state, text) {
  const c = $('conn');
  c.dataset.conn = state;
  c.textContent = text;
}

// --- broker

async function start() {
  let config;
  try {
    config = await (await fetch('dashboard/config.json', { cache: 'no-store' })).json();
  } catch {
    setConn('error', 'Cannot read dashboard/config.json from this node');
    return;
  }
  prefix = typeof config.prefix === 'string' ? config.prefix : 'nuvem';
  const url = brokerUrlFor(config.brokerWs, location.hostname);
  if (!url) {
    setConn('error', "This node does not know the broker's WebSocket URL (start it with --broker-ws)");
    return;
  }
  $('path-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void lookup(cleanPath($('path-input').value));
  });
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value);
    $('token-input').value = '';
    $('token-form').hidden = true;
    connect(url);
  });
  setInterval(tick, 250);
  connect(url);
}

function connect(url) {
  const token = sessionStorage.getItem(TOKEN_KEY) || undefined;
  setConn('connecting', `Connecting to ${url}…`);
  client = mqtt.connect(url, {
    clientId: `nuvem-dashboard-${Math.random().toString(16).slice(2, 10)}`,
    // A reader: any user name, the read token as password (broker/auth.ts).
    username: token ? 'dashboard' : undefined,
    password: token,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
  });
  client.on('connect', () => {
    setConn('connected', `Live: ${url}`);
    client.subscribe([`${prefix}/nodes/+/status`, `${prefix}/files/#`, `${prefix}/events/#`], { qos: 0 });
  });
  client.on('message', (topic, payload, packet) => {
    const what = view.onMessage(topic, payload, { prefix, retained: packet.retain, now: Date.now() });
    if (what === 'status') renderNodes();
    if (what === 'feed') renderFeed();
    if (what && lookedUp) renderHolders();
  });
  client.on('error', (err) => {
    // CONNACK 4 (bad user name or password) or 5 (not authorized): the broker wants a read token.
    if (err && (err.code === 4 || err.code === 5)) {
      client.end(true);
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      askToken(token ? 'The broker refused that token.' : 'The broker refused a connection without one.');
      return;
    }
    setConn('error', `Cannot reach the broker at ${url}; retrying`);
  });
  client.on('reconnect', () => setConn('connecting', `Reconnecting to ${url}…`));
  client.on('offline', () => setConn('error', `Lost the broker at ${url}; retrying (figures are stale)`));
}

function askToken(why) {
  setConn('auth', 'The broker needs a read token');
  $('token-why').textContent = why;
  $('token-form').hidden = false;
  $('token-input').focus();
}

// --- node cards

function card(id) {
  let c = cards.get(id);
  if (c) return c;
  const root = el('article', { class: 'node', 'data-node-id': id, 'data-state': 'offline' });
  const head = el('div', { class: 'node-head' });
  const badge = el('span', { class: 'badge' });
  const age = el('span', { class: 'age', title: 'Time since its last heartbeat' });
  head.append(el('h3', { class: 'node-id' }, id), badge, age);
  const url = el('div', { class: 'node-url' });
  const figures = el('dl', { class: 'figures' });
  const fields = {};
  for (const [key, label] of FIELDS) {
    const dd = el('dd', { 'data-field': key }, '–');
    const item = el('div');
    item.append(el('dt', {}, label), dd);
    figures.append(item);
    fields[key] = dd;
  }
  const sparks = el('div', { class: 'sparks' });
  const lines = {};
  for (const [key, label] of SPARKS) {
    const now = el('span', { class: 'spark-now' }, '–');
    const labelRow = el('div', { class: 'spark-label' });
    labelRow.append(el('span', {}, label), now);
    const svg = svgEl('svg', { viewBox: '0 0 100 24', preserveAspectRatio: 'none', role: 'img', 'aria-label': `${label} over the last minutes` });
    const line = svgEl('polyline', { points: '' });
    svg.append(svgEl('line', { x1: 0, y1: 23, x2: 100, y2: 23 }), line);
    const box = el('div', { class: 'spark', 'data-spark': key });
    box.append(labelRow, svg);
    sparks.append(box);
    lines[key] = { line, now };
  }
  root.append(head, url, figures, sparks);
  c = { root, badge, age, url, fields, lines };
  cards.set(id, c);
  // Cards in id order.
  const after = [...cards.keys()].filter((k) => k > id).sort()[0];
  $('nodes').insertBefore(root, after ? cards.get(after).root : null);
  $('no-nodes').hidden = true;
  return c;
}

function renderNodes() {
  const now = Date.now();
  for (const node of view.list()) {
    const c = card(node.id);
    const s = node.status;
    c.url.textContent = typeof s.url === 'string' ? s.url : '';
    const f = c.fields;
    f.lag.textContent = show(s.lag);
    f.files.textContent = show(s.files);
    f.stored.textContent = formatBytes(s.bytes);
    f.inflight.textContent = show(s.inflight);
    f.cpu.textContent = formatPercent(s.cpu);
    f.load.textContent = typeof s.load === 'number' ? s.load.toFixed(2) : '–';
    f.rss.textContent = formatBytes(s.mem?.rss);
    f.mem.textContent = s.mem ? `${formatBytes(s.mem.free)} free of ${formatBytes(s.mem.total)}` : '–';
    f.disk.textContent = s.disk && s.disk.total > 0 ? `${formatBytes(s.disk.free)} free of ${formatBytes(s.disk.total)}` : '–';
    renderState(node, c, now);
    renderSparks(node, c, now);
  }
  renderSummary(now);
}

const show = (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '–');

function renderState(node, c, now) {
  const state = stateOf(node, now);
  if (c.root.dataset.state !== state) c.root.dataset.state = state;
  if (c.badge.textContent !== state) c.badge.textContent = state;
  c.age.textContent = `${formatAge(heartbeatAge(node, now))} ago`;
}

function renderSparks(node, c, now) {
  const series = seriesOf(node, now);
  const span = spanOf(openedAt, now);
  for (const [key] of SPARKS) {
    const points = series[key];
    const { line, now: label } = c.lines[key];
    line.setAttribute('points', sparkPoints(points, now, { max: key === 'cpu' ? 1 : undefined, span }));
    const last = points[points.length - 1]?.v;
    label.textContent = key === 'cpu' ? formatPercent(last) : formatRate(last, key === 'bytes' ? 'B/s' : '');
  }
}

function renderSummary(now) {
  const nodes = view.list();
  const online = nodes.filter((n) => stateOf(n, now) === 'online').length;
  $('summary').textContent = nodes.length ? `${online} of ${nodes.length} node${nodes.length === 1 ? '' : 's'} online` : 'No nodes seen yet';
}

let ticks = 0;
function tick() {
  const now = Date.now();
  const redraw = ++ticks % 4 === 0; // sparklines slide once a second
  for (const node of view.list()) {
    const c = cards.get(node.id);
    if (!c) continue;
    renderState(node, c, now);
    if (redraw) renderSparks(node, c, now);
  }
  renderSummary(now);
  if (lookedUp && redraw) renderHolders();
}

// --- feed

function renderFeed() {
  const list = $('feed');
  const fresh = view.feed.filter((e) => !shownFeed.has(e));
  for (const entry of fresh.reverse()) {
    shownFeed.add(entry);
    list.prepend(feedItem(entry));
  }
  while (list.children.length > view.feed.length) list.lastElementChild.remove();
  $('feed-empty').hidden = list.children.length > 0;
}

function feedItem(e) {
  const li = el('li', { 'data-kind': e.kind, 'data-op': e.kind === 'change' ? e.op : e.type });
  li.append(el('span', { class: 'time' }, formatClock(e.at)));
  if (e.kind === 'change') {
    const name = e.path + (e.folder ? '/' : '');
    li.append(
      el('span', { class: 'op' }, e.op === 'mkcol' ? 'mkdir' : e.op),
      el('span', { class: 'path' }, e.op === 'move' && e.from ? `${e.from} → ${name}` : name),
      el('span', { class: 'meta' }, [e.op === 'put' ? formatBytes(e.size) : '', `from ${e.origin}`].filter(Boolean).join(' · ')),
    );
  } else {
    const detail = e.type === 'conflict' && e.loser ? ` (kept ${e.loser} as a revision)` : e.count !== undefined ? ` (${e.count})` : '';
    li.append(
      el('span', { class: 'op' }, e.type),
      el('span', { class: 'path' }, (e.path ?? '') + detail),
      el('span', { class: 'meta' }, e.node ? `on ${e.node}` : ''),
    );
  }
  return li;
}

// --- path box

async function lookup(path) {
  if (!path) return;
  lookedUp = { path, note: 'Asking this node…' };
  renderHolders();
  const asked = lookedUp;
  try {
    // This node's current record of the path (same origin: no CORS, no token for HEAD on a node without one).
    const res = await fetch(fileUrl(path), { method: 'HEAD', cache: 'no-store' });
    const version = (res.headers.get('etag') ?? '').replace(/^"|"$/g, '');
    const origin = res.headers.get('x-nuvem-origin');
    const seq = Number(res.headers.get('x-nuvem-seq'));
    if (res.ok && version && origin && Number.isSafeInteger(seq)) {
      asked.fromNode = { version, origin, seq, deleted: false };
      asked.note = '';
    } else if (res.status === 404) {
      asked.note = 'This node has no live file at that path.';
    } else if (res.status === 401) {
      asked.note = 'This node needs a token to read files; only changes seen on the broker since this page opened count.';
    } else {
      asked.note = `This node answered ${res.status}.`;
    }
  } catch {
    asked.note = 'This node did not answer; only changes seen on the broker count.';
  }
  if (lookedUp === asked) renderHolders();
}

function renderHolders() {
  const box = $('path-result');
  const { path, fromNode, note } = lookedUp;
  const record = newerOf(view.records.get(path), fromNode);
  const parts = [];
  if (!record) {
    parts.push(el('p', { class: 'muted' }, `No version of “${path}” known. ${note}`.trim()));
    box.replaceChildren(...parts);
    return;
  }
  const now = Date.now();
  const holders = holdersOf(record, view.list(), now);
  const holding = holders.filter((h) => h.holds).map((h) => h.id);
  parts.push(el('p', { class: 'version' }, `${path}: ${record.deleted ? 'deleted in' : 'newest'} version ${record.version}, change #${record.seq} of ${record.origin}`));
  parts.push(el('p', { id: 'holders-summary' }, holding.length ? `Held by ${holding.join(', ')} (${holding.length} of ${holders.length})` : 'No node known to hold it yet'));
  const list = el('ul', { class: 'holders', id: 'holders' });
  for (const h of holders) {
    const li = el('li', { 'data-node-id': h.id, 'data-holds': h.holds ? 'yes' : 'no' });
    const state = h.state === 'online' ? '' : ` (${h.state})`;
    li.append(el('span', { class: h.state === 'offline' ? 'state-offline' : '' }, h.id + state), el('span', { class: 'holds' }, h.holds ? 'holds it' : 'behind'));
    list.append(li);
  }
  parts.push(list);
  if (note) parts.push(el('p', { class: 'muted' }, note));
  box.replaceChildren(...parts);
}

void start();
