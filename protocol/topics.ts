/**
 * MQTT topic names (DESIGN.md section 4). Pure: build and parse, no I/O.
 *
 *   {prefix}/nodes/{id}/status   retained heartbeat, Last Will `offline`
 *   {prefix}/files/{path}        change notices (segments encode `%`, `+`, `#`)
 *   {prefix}/acks/{originId}     a node has durably applied a change of origin
 *   {prefix}/events/{id}         conflict, repair, disk_low, joined, left
 *
 * Builders throw on input they could not round-trip (a bad node id or path);
 * `parseTopic` never throws and answers undefined for anything malformed.
 *
 * @example
 * fileTopic('a+b/c#d%e')                 // 'nuvem/files/a%2Bb/c%23d%25e'
 * parseTopic('nuvem/files/a%2Bb/c%23d%25e') // { kind: 'file', path: 'a+b/c#d%e' }
 * statusTopic('n1', { prefix: 'lab' })   // 'lab/nodes/n1/status'
 */
import { parsePath } from './paths.ts';
import { NODE_ID } from './version.ts';

export const DEFAULT_PREFIX = 'nuvem';

export interface TopicOptions {
  /** Topic prefix, one or more levels without wildcards (default `nuvem`). */
  prefix?: string;
}

export type ParsedTopic =
  | { kind: 'status'; node: string }
  | { kind: 'file'; path: string }
  | { kind: 'ack'; origin: string }
  | { kind: 'event'; node: string };

/** Throws unless `prefix` can start every Nuvem topic (no wildcards, no `$`, no empty level). */
export function checkPrefix(prefix: string): string {
  const ok =
    prefix !== '' &&
    !prefix.startsWith('$') &&
    // deno-lint-ignore no-control-regex -- NUL is refused in a topic prefix
    !/[+#\u0000]/.test(prefix) &&
    prefix.split('/').every((level) => level !== '');
  if (!ok) {
    throw new TypeError(`Cannot use topic prefix "${prefix}": use one or more non-empty levels without "+", "#" or a leading "$"`);
  }
  return prefix;
}

export function statusTopic(id: string, options: TopicOptions = {}): string {
  return `${prefixOf(options)}/nodes/${nodeId(id)}/status`;
}

export function fileTopic(path: string, options: TopicOptions = {}): string {
  return `${prefixOf(options)}/files/${encodeTopicPath(parsePath(path))}`;
}

export function ackTopic(origin: string, options: TopicOptions = {}): string {
  return `${prefixOf(options)}/acks/${nodeId(origin)}`;
}

export function eventTopic(id: string, options: TopicOptions = {}): string {
  return `${prefixOf(options)}/events/${nodeId(id)}`;
}

/** The filter that matches every Nuvem topic: `nuvem/#`. */
export function allTopics(options: TopicOptions = {}): string {
  return `${prefixOf(options)}/#`;
}

/** Reads a topic back; undefined when it is not a well-formed Nuvem topic. */
export function parseTopic(topic: string, options: TopicOptions = {}): ParsedTopic | undefined {
  const head = `${prefixOf(options)}/`;
  if (typeof topic !== 'string' || !topic.startsWith(head)) return undefined;
  const levels = topic.slice(head.length).split('/');
  const [kind, first] = levels;
  if (kind === 'nodes' && levels.length === 3 && levels[2] === 'status' && NODE_ID.test(first)) {
    return { kind: 'status', node: first };
  }
  if (kind === 'acks' && levels.length === 2 && NODE_ID.test(first)) return { kind: 'ack', origin: first };
  if (kind === 'events' && levels.length === 2 && NODE_ID.test(first)) return { kind: 'event', node: first };
  if (kind === 'files' && levels.length >= 2) {
    const path = decodeTopicPath(levels.slice(1).join('/'));
    return path === undefined ? undefined : { kind: 'file', path };
  }
  return undefined;
}

/** Percent-encodes the three characters MQTT gives a meaning to in a topic: `%`, `+`, `#`. */
export function encodeTopicPath(path: string): string {
  return path.replace(/[%+#]/g, (c) => ESCAPES[c]);
}

/** Reverses `encodeTopicPath` and validates the path; undefined when malformed. */
export function decodeTopicPath(encoded: string): string | undefined {
  if (/[+#]/.test(encoded)) return undefined;
  let bad = false;
  const decoded = encoded.replace(/%(..)?/g, (_m, hex: string | undefined) => {
    const c = hex === undefined ? undefined : UNESCAPES[hex.toUpperCase()];
    if (c === undefined) bad = true;
    return c ?? '';
  });
  if (bad) return undefined;
  try {
    return parsePath(decoded);
  } catch {
    return undefined;
  }
}

const ESCAPES: Record<string, string> = { '%': '%25', '+': '%2B', '#': '%23' };
const UNESCAPES: Record<string, string> = { '25': '%', '2B': '+', '23': '#' };

function prefixOf(options: TopicOptions): string {
  return options.prefix ?? DEFAULT_PREFIX;
}

function nodeId(id: string): string {
  if (!NODE_ID.test(id)) throw new TypeError(`Cannot use node id "${id}" in a topic: expected 1 to 64 of a-z, 0-9, "_" and "-"`);
  return id;
}
