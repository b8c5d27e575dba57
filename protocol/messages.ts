/**
 * MQTT payloads (DESIGN.md section 4). Pure: build compact single-line JSON,
 * and validate what arrives. Validators never throw: they answer
 * `{ ok: true, value }` or `{ ok: false, reason }`, so a node can ignore and
 * count a malformed message (section 7.5). Builders refuse (throw a TypeError)
 * anything the validators would reject, so what we send is what we accept.
 *
 * Known fields are checked strictly; fields a newer node adds (a status's
 * `runtime` or `cluster`, an event's details) pass through untouched.
 *
 * @example
 * const r = parseAckMessage('{"node":"n2","origin":"n1","seq":7,"path":"a.txt","version":"0192f3a4b5c6-0000-n1"}');
 * if (r.ok) markApplied(r.value.node, r.value.origin, r.value.seq);
 * else countMalformed(r.reason);
 */
import { parsePath } from './paths.ts';
import type { Change, ChangeOp, EntryType } from './record.ts';
import { NODE_ID, parseVersion } from './version.ts';

export const MAX_PAYLOAD_BYTES = 64 * 1024;

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export type NodeState = 'online' | 'draining' | 'offline';

/** `nuvem/nodes/{id}/status`: the retained heartbeat (and, with `state: "offline"`, the Last Will). */
export interface StatusMessage {
  id: string;
  url: string;
  state: NodeState;
  ts: number;
  startedAt: number;
  heartbeatMs: number;
  /** The node's own last change. */
  seq: number;
  /** originId → highest contiguous seq applied. */
  applied: Record<string, number>;
  lag: number;
  files: number;
  bytes: number;
  disk: { free: number; total: number };
  inflight: number;
  /** Software version of the node. */
  version: string;
  /** Share of all cores busy over the last sampling interval, 0 to 1 (like psutil's cpu_percent / 100). */
  cpu?: number;
  /** 1-minute load average of the machine. */
  load?: number;
  /** Resident memory of the node process, and the machine's free and total memory, in bytes. */
  mem?: { rss: number; free: number; total: number };
  /** HTTP requests answered since the node started (a counter: the dashboard draws its rate). */
  requests?: number;
  /** File content bytes received in uploads and sent in downloads since the node started (counters). */
  traffic?: { in: number; out: number };
  /** How many members the node knows (its `cluster` lists at most 64 of them). */
  members?: number;
}

/** `nuvem/files/{path}`: the record as the change left it, plus `op` (and `from` for moves). */
export type ChangeMessage = Change;

/** `nuvem/acks/{originId}`: `node` has durably applied change (origin, seq). */
export interface AckMessage {
  node: string;
  origin: string;
  seq: number;
  path: string;
  version: string;
}

export type EventType = 'conflict' | 'repair' | 'disk_low' | 'joined' | 'left';

/** `nuvem/events/{id}`: a notable event; details beyond `type` are free-form. */
export interface EventMessage {
  type: EventType;
  node?: string;
  ts?: number;
  path?: string;
  version?: string;
  [detail: string]: unknown;
}

const STATES: readonly string[] = ['online', 'draining', 'offline'];
const OPS: readonly string[] = ['put', 'delete', 'move', 'mkcol'];
const TYPES: readonly string[] = ['file', 'folder'];
const EVENTS: readonly string[] = ['conflict', 'repair', 'disk_low', 'joined', 'left'];
const SHA256 = /^[0-9a-f]{64}$/;
const SOFTWARE_VERSION = /^[\x21-\x7e]{1,64}$/;

// --- builders

export function statusMessage(status: StatusMessage & Record<string, unknown>): string {
  const { id, url, state, ts, startedAt, heartbeatMs, seq, applied, lag, files, bytes, disk, inflight, version, cpu, load, mem, requests, traffic, ...extra } = status;
  const value = { id, url, state, ts, startedAt, heartbeatMs, seq, applied, lag, files, bytes, disk, inflight, version, cpu, load, mem, requests, traffic, ...extra };
  return built(value, checkStatus);
}

export function changeMessage(change: ChangeMessage): string {
  const { path, type, version, size, sha256, modified, contentType, deleted, origin, seq, op, from, prev, fromPrev } = change;
  return built({ path, type, version, size, sha256, modified, contentType, deleted, origin, seq, op, from, prev, fromPrev }, checkChange);
}

export function ackMessage(ack: AckMessage): string {
  const { node, origin, seq, path, version } = ack;
  return built({ node, origin, seq, path, version }, checkAck);
}

export function eventMessage(event: EventMessage): string {
  return built(event, checkEvent);
}

// --- validators

export function parseStatusMessage(payload: string | Uint8Array): Result<StatusMessage> {
  return validate(payload, checkStatus);
}

export function parseChangeMessage(payload: string | Uint8Array): Result<ChangeMessage> {
  return validate(payload, checkChange);
}

export function parseAckMessage(payload: string | Uint8Array): Result<AckMessage> {
  return validate(payload, checkAck);
}

export function parseEventMessage(payload: string | Uint8Array): Result<EventMessage> {
  return validate(payload, checkEvent);
}

/** A change that arrived as an object (a peer's JSON answer), checked as a notice would be, on a shallow copy. */
export function checkedChange(value: object): Result<ChangeMessage> {
  return validateObject({ ...value } as Json, checkChange);
}

// --- checks (throw Invalid; `validate` turns that into a reason)

type Json = Record<string, unknown>;

class Invalid extends Error {}

function checkStatus(o: Json): StatusMessage {
  nodeId(o, 'id');
  httpUrl(o, 'url');
  oneOf(o, 'state', STATES);
  for (const k of ['ts', 'startedAt', 'seq', 'lag', 'files', 'bytes', 'inflight']) count(o, k);
  if (count(o, 'heartbeatMs') === 0) fail('"heartbeatMs" must be at least 1');
  const applied = object(o, 'applied');
  for (const [origin, seq] of Object.entries(applied)) {
    if (!NODE_ID.test(origin)) fail(`"applied" has a key that is not a node id: ${show(origin)}`);
    if (!isCount(seq)) fail(`"applied.${origin}" must be a non-negative integer, got ${show(seq)}`);
  }
  const disk = object(o, 'disk');
  count(disk, 'free', 'disk.free');
  count(disk, 'total', 'disk.total');
  if (typeof o.version !== 'string' || !SOFTWARE_VERSION.test(o.version)) {
    fail(`"version" must be 1 to 64 printable characters, got ${show(o.version)}`);
  }
  checkResources(o);
  return o as unknown as StatusMessage;
}

/**
 * The resource report and traffic counters (DESIGN.md section 4). Optional,
 * so a status from a node that predates them is still a status; checked
 * whenever present. Every node of this version sends them.
 */
function checkResources(o: Json): void {
  if (o.cpu !== undefined) ratio(o, 'cpu');
  if (o.load !== undefined) nonNegative(o, 'load');
  if (o.mem !== undefined) {
    const mem = object(o, 'mem');
    for (const k of ['rss', 'free', 'total']) count(mem, k, `mem.${k}`);
  }
  if (o.requests !== undefined) count(o, 'requests');
  if (o.members !== undefined) count(o, 'members');
  if (o.traffic !== undefined) {
    const traffic = object(o, 'traffic');
    for (const k of ['in', 'out']) count(traffic, k, `traffic.${k}`);
  }
}

function checkChange(o: Json): ChangeMessage {
  o.path = path(o, 'path');
  const type = oneOf(o, 'type', TYPES) as EntryType;
  version(o, 'version');
  count(o, 'size');
  count(o, 'modified');
  // deno-lint-ignore no-control-regex -- control characters are what this refuses
  if (typeof o.contentType !== 'string' || o.contentType.length > 255 || /[\u0000-\u001f\u007f]/.test(o.contentType)) {
    fail(`"contentType" must be a string of at most 255 printable characters, got ${show(o.contentType)}`);
  }
  if (typeof o.deleted !== 'boolean') fail(`"deleted" must be true or false, got ${show(o.deleted)}`);
  nodeId(o, 'origin');
  count(o, 'seq');
  const op = oneOf(o, 'op', OPS) as ChangeOp;
  const sha = o.sha256;
  const mayBeEmpty = o.deleted === true || type === 'folder';
  if (typeof sha !== 'string' || !(SHA256.test(sha) || (sha === '' && mayBeEmpty))) {
    fail(`"sha256" must be 64 lowercase hex digits${mayBeEmpty ? ' or empty' : ''}, got ${show(sha)}`);
  }
  if (op === 'delete' && o.deleted !== true) fail('a "delete" change must have "deleted": true');
  if (op !== 'delete' && o.deleted !== false) fail(`a "${op}" change must have "deleted": false`);
  if (op === 'put' && type !== 'file') fail('a "put" change must be of type "file"');
  if (op === 'mkcol' && type !== 'folder') fail('a "mkcol" change must be of type "folder"');
  if (op === 'move') {
    o.from = path(o, 'from');
    if (o.from === o.path) fail('a "move" change must have "from" differ from "path"');
  } else if (o.from !== undefined) {
    fail(`"from" belongs only to "move" changes, not "${op}"`);
  }
  for (const k of ['prev', 'fromPrev']) if (o[k] !== undefined) version(o, k);
  if (o.fromPrev !== undefined && op !== 'move') fail(`"fromPrev" belongs only to "move" changes, not "${op}"`);
  return o as unknown as ChangeMessage;
}

function checkAck(o: Json): AckMessage {
  nodeId(o, 'node');
  nodeId(o, 'origin');
  count(o, 'seq');
  o.path = path(o, 'path');
  version(o, 'version');
  return o as unknown as AckMessage;
}

function checkEvent(o: Json): EventMessage {
  oneOf(o, 'type', EVENTS);
  if (o.node !== undefined) nodeId(o, 'node');
  if (o.ts !== undefined) count(o, 'ts');
  if (o.path !== undefined) o.path = path(o, 'path');
  if (o.version !== undefined) version(o, 'version');
  if (o.member !== undefined) nodeId(o, 'member');
  return o as EventMessage;
}

// --- field helpers

function validate<T>(payload: string | Uint8Array, check: (o: Json) => T): Result<T> {
  try {
    return { ok: true, value: check(decode(payload)) };
  } catch (err) {
    return refused(err);
  }
}

function validateObject<T>(o: Json, check: (o: Json) => T): Result<T> {
  try {
    return { ok: true, value: check(o) };
  } catch (err) {
    return refused(err);
  }
}

function refused(err: unknown): { ok: false; reason: string } {
  if (err instanceof Invalid) return { ok: false, reason: err.message };
  return { ok: false, reason: `unexpected: ${err instanceof Error ? err.message : String(err)}` };
}

/**
 * The JSON of a message this process sends, checked as a receiver would check
 * it (a programming error otherwise). The check reads a shallow copy of the
 * value, not a parse of the JSON: the same fields, for a fifth of the CPU.
 */
function built(value: object, check: (o: Json) => unknown): string {
  const json = JSON.stringify(value);
  try {
    checkTextSize(json);
    check({ ...value } as Json);
  } catch (err) {
    throw new TypeError(`Cannot build message: ${err instanceof Error ? err.message : String(err)}`);
  }
  return json;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A payload given as text may take at most MAX_PAYLOAD_BYTES in UTF-8 (encoded only when it could be over). */
function checkTextSize(text: string): void {
  if (text.length > MAX_PAYLOAD_BYTES || (text.length * 3 > MAX_PAYLOAD_BYTES && encoder.encode(text).length > MAX_PAYLOAD_BYTES)) {
    fail(`payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
}

function decode(payload: string | Uint8Array): Json {
  let text: string;
  if (typeof payload === 'string') {
    checkTextSize(payload);
    text = payload;
  } else if (payload instanceof Uint8Array) {
    if (payload.length > MAX_PAYLOAD_BYTES) fail(`payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
    try {
      text = decoder.decode(payload);
    } catch {
      fail('payload is not valid UTF-8');
    }
  } else {
    fail('payload must be a string or bytes');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail('payload is not JSON');
  }
  if (!isObject(parsed)) fail('payload must be a JSON object');
  return parsed;
}

function fail(reason: string): never {
  throw new Invalid(reason);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function count(o: Json, key: string, label = key): number {
  const v = o[key];
  if (!isCount(v)) fail(`"${label}" must be a non-negative integer, got ${show(v)}`);
  return v;
}

function nonNegative(o: Json, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`"${key}" must be a non-negative number, got ${show(v)}`);
  return v;
}

function ratio(o: Json, key: string): number {
  const v = nonNegative(o, key);
  if (v > 1) fail(`"${key}" must be a share from 0 to 1, got ${show(v)}`);
  return v;
}

function object(o: Json, key: string): Json {
  const v = o[key];
  if (!isObject(v)) fail(`"${key}" must be an object, got ${show(v)}`);
  return v;
}

function oneOf(o: Json, key: string, allowed: readonly string[]): string {
  const v = o[key];
  if (typeof v !== 'string' || !allowed.includes(v)) fail(`"${key}" must be one of ${allowed.join(', ')}, got ${show(v)}`);
  return v;
}

function nodeId(o: Json, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !NODE_ID.test(v)) fail(`"${key}" must be a node id (a-z, 0-9, "_", "-"; 1 to 64), got ${show(v)}`);
  return v;
}

function version(o: Json, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !parseVersion(v)) fail(`"${key}" must be a version like 0192f3a4b5c6-0000-n1, got ${show(v)}`);
  return v;
}

function path(o: Json, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`"${key}" must be a path, got ${show(v)}`);
  try {
    return parsePath(v);
  } catch (err) {
    return fail(`"${key}" is not a valid path: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function httpUrl(o: Json, key: string): string {
  const v = o[key];
  let ok = false;
  if (typeof v === 'string' && v.length <= 2048) {
    try {
      const u = new URL(v);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      ok = false;
    }
  }
  if (!ok) fail(`"${key}" must be an http(s) URL, got ${show(v)}`);
  return v as string;
}

/** A short, printable rendering of an offending value for a reason. */
function show(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? s.slice(0, 80) + '…' : s;
}
