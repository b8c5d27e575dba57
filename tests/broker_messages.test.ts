import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ackMessage,
  changeMessage,
  eventMessage,
  MAX_PAYLOAD_BYTES,
  parseAckMessage,
  parseChangeMessage,
  parseEventMessage,
  parseStatusMessage,
  statusMessage,
  type ChangeMessage,
  type StatusMessage,
} from '../protocol/messages.ts';
import {
  ackTopic,
  allTopics,
  checkPrefix,
  eventTopic,
  fileTopic,
  parseTopic,
  statusTopic,
} from '../protocol/topics.ts';

const V1 = '0192f3a4b5c6-0000-n1';
const SHA = 'ab'.repeat(32);

// --- topics

test('topic builders follow DESIGN.md section 4', () => {
  assert.is(statusTopic('n1'), 'nuvem/nodes/n1/status');
  assert.is(fileTopic('a+b/c#d%e'), 'nuvem/files/a%2Bb/c%23d%25e');
  assert.is(ackTopic('n1'), 'nuvem/acks/n1');
  assert.is(eventTopic('node-2'), 'nuvem/events/node-2');
  assert.is(allTopics(), 'nuvem/#');
  assert.is(statusTopic('n1', { prefix: 'lab/nuvem' }), 'lab/nuvem/nodes/n1/status');
});

test('file topics round-trip, including %, +, # and unicode', () => {
  const paths = ['a.txt', 'a+b/c#d%e', '%25/%2B/%23', '100%/+1 #2', 'fotos/ação/ñ.jpg', '日本/文件 1.txt', 'emoji/🙂.png', 'x y/z'];
  for (const path of paths) {
    const topic = fileTopic(path);
    assert.not.match(topic.slice('nuvem/files/'.length), /[+#]/, topic);
    assert.equal(parseTopic(topic), { kind: 'file', path }, path);
    assert.equal(parseTopic(fileTopic(path, { prefix: 'p' }), { prefix: 'p' }), { kind: 'file', path }, path);
  }
  assert.equal(parseTopic('nuvem/files/a%2bb'), { kind: 'file', path: 'a+b' }, 'lower-case hex is accepted');
  assert.equal(parseTopic('nuvem/files/e\u0301'), { kind: 'file', path: '\u00e9' }, 'paths come back in NFC');
});

test('other topics round-trip', () => {
  assert.equal(parseTopic(statusTopic('n1')), { kind: 'status', node: 'n1' });
  assert.equal(parseTopic(ackTopic('origin_9')), { kind: 'ack', origin: 'origin_9' });
  assert.equal(parseTopic(eventTopic('n-3')), { kind: 'event', node: 'n-3' });
  assert.equal(parseTopic('lab/nodes/n1/status', { prefix: 'lab' }), { kind: 'status', node: 'n1' });
});

test('malformed topics parse to undefined', () => {
  const bad = [
    '',
    'nuvem',
    'nuvem/',
    'other/nodes/n1/status',
    'nuvemx/nodes/n1/status',
    'nuvem/nodes/n1',
    'nuvem/nodes/N1/status',
    'nuvem/nodes/n1/status/extra',
    'nuvem/nodes/n1/other',
    'nuvem/nodes//status',
    'nuvem/acks',
    'nuvem/acks/',
    'nuvem/acks/n1/x',
    'nuvem/acks/-n1',
    'nuvem/events/n1/x',
    'nuvem/events/' + 'a'.repeat(65),
    'nuvem/unknown/x',
    'nuvem/files',
    'nuvem/files/',
    'nuvem/files/a//b',
    'nuvem/files/a/',
    'nuvem/files/a/../b',
    'nuvem/files/./a',
    'nuvem/files/.nuvem/x',
    'nuvem/files/a%zz',
    'nuvem/files/a%2',
    'nuvem/files/a%',
    'nuvem/files/a%20b',
    'nuvem/files/a%2F..',
    'nuvem/files/a+b',
    'nuvem/files/a#',
    'nuvem/files/a\u0000b',
    'nuvem/files/a\\b',
  ];
  for (const topic of bad) assert.is(parseTopic(topic), undefined, JSON.stringify(topic));
  assert.is(parseTopic('nuvem/nodes/n1/status', { prefix: 'lab' }), undefined);
  assert.is(parseTopic(42 as unknown as string), undefined);
});

test('builders refuse what they could not parse back', () => {
  assert.throws(() => statusTopic('N1'), /node id/);
  assert.throws(() => ackTopic(''), /node id/);
  assert.throws(() => eventTopic('a/b'), /node id/);
  assert.throws(() => fileTopic('a/../b'), /invalid|not allowed/);
  assert.throws(() => checkPrefix(''), /prefix/);
  assert.throws(() => checkPrefix('a/#'), /prefix/);
  assert.throws(() => checkPrefix('$SYS'), /prefix/);
  assert.throws(() => checkPrefix('a//b'), /prefix/);
  assert.is(checkPrefix('lab/nuvem'), 'lab/nuvem');
});

// --- messages

function goodStatus(): StatusMessage {
  return {
    id: 'n1',
    url: 'http://127.0.0.1:7001',
    state: 'online',
    ts: 1_760_000_000_000,
    startedAt: 1_759_999_000_000,
    heartbeatMs: 1000,
    seq: 12,
    applied: { n1: 12, n2: 7 },
    lag: 0,
    files: 3,
    bytes: 4096,
    disk: { free: 10_000, total: 20_000 },
    inflight: 0,
    version: '0.1.0',
  };
}

function goodChange(): ChangeMessage {
  return {
    path: 'docs/a+b.txt',
    type: 'file',
    version: V1,
    size: 5,
    sha256: SHA,
    modified: 1_760_000_000_000,
    contentType: 'text/plain',
    deleted: false,
    origin: 'n1',
    seq: 3,
    op: 'put',
  };
}

const goodAck = { node: 'n2', origin: 'n1', seq: 3, path: 'docs/a+b.txt', version: V1 };

test('builders give compact single-line JSON that the validators accept', () => {
  const status = statusMessage({ ...goodStatus(), runtime: 'node v20', cluster: { nodes: [] } });
  assert.not.match(status, /\n/);
  assert.ok(status.startsWith('{"id":"n1","url":'));
  const parsed = parseStatusMessage(status);
  assert.ok(parsed.ok);
  if (parsed.ok) assert.is((parsed.value as unknown as Record<string, unknown>).runtime, 'node v20', 'extra fields pass through');

  const change = changeMessage({ ...goodChange(), path: 'line\u2028sep/x' });
  assert.not.match(change, /\n/);
  assert.equal(parseChangeMessage(change), { ok: true, value: { ...goodChange(), path: 'line\u2028sep/x' } });

  assert.equal(parseAckMessage(ackMessage(goodAck)), { ok: true, value: goodAck });
  const event = { type: 'conflict' as const, node: 'n1', ts: 5, path: 'a.txt', version: V1, loser: V1 };
  assert.equal(parseEventMessage(eventMessage(event)), { ok: true, value: event });
});

test('every op has a valid change notice', () => {
  const base = goodChange();
  const good: ChangeMessage[] = [
    base,
    { ...base, op: 'put', size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    { ...base, op: 'delete', deleted: true, size: 0, sha256: '', contentType: '' },
    { ...base, op: 'delete', type: 'folder', deleted: true, size: 0, sha256: '', contentType: '' },
    { ...base, op: 'move', from: 'old/a+b.txt' },
    { ...base, op: 'move', type: 'folder', sha256: '', size: 0, contentType: '', from: 'old' },
    { ...base, op: 'mkcol', type: 'folder', size: 0, sha256: '', contentType: '' },
  ];
  for (const change of good) {
    const r = parseChangeMessage(JSON.stringify(change));
    assert.ok(r.ok, `${JSON.stringify(change)}: ${r.ok ? '' : r.reason}`);
  }
});

test('validators accept bytes and reject oversize, non-UTF-8 and non-objects', () => {
  assert.ok(parseAckMessage(new TextEncoder().encode(JSON.stringify(goodAck))).ok);
  assert.ok(parseAckMessage(Buffer.from(JSON.stringify(goodAck))).ok);
  const big = JSON.stringify({ ...goodStatus(), padding: 'x'.repeat(MAX_PAYLOAD_BYTES) });
  assert.equal(parseStatusMessage(big), { ok: false, reason: `payload is larger than ${MAX_PAYLOAD_BYTES} bytes` });
  assert.equal(parseStatusMessage(Buffer.from(big)), { ok: false, reason: `payload is larger than ${MAX_PAYLOAD_BYTES} bytes` });
  const wide = JSON.stringify({ ...goodStatus(), padding: '€'.repeat(MAX_PAYLOAD_BYTES / 3) });
  assert.not.ok(parseStatusMessage(wide).ok, 'the limit counts UTF-8 bytes, not characters');
  const table: [string | Uint8Array, RegExp][] = [
    [new Uint8Array([0x7b, 0xff, 0x7d]), /UTF-8/],
    ['', /not JSON/],
    ['{"node":', /not JSON/],
    ['[]', /JSON object/],
    ['null', /JSON object/],
    ['"n1"', /JSON object/],
  ];
  for (const [payload, reason] of table) {
    const r = parseAckMessage(payload);
    assert.is(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  }
  assert.not.ok(parseAckMessage(42 as unknown as string).ok, 'never throws, even on a wrong type');
});

type Bad = [string, Record<string, unknown>, RegExp];

test('status validator rejects a table of bad payloads with reasons', () => {
  const { applied: _applied, ...noApplied } = goodStatus();
  const table: Bad[] = [
    ['id uppercase', { id: 'N1' }, /"id" must be a node id/],
    ['id too long', { id: 'a'.repeat(65) }, /"id"/],
    ['id number', { id: 1 }, /"id"/],
    ['url ftp', { url: 'ftp://x' }, /"url" must be an http\(s\) URL/],
    ['url garbage', { url: 'not a url' }, /"url"/],
    ['url javascript', { url: 'javascript:alert(1)' }, /"url"/],
    ['state unknown', { state: 'sleeping' }, /"state" must be one of online, draining, offline/],
    ['ts negative', { ts: -1 }, /"ts" must be a non-negative integer, got -1/],
    ['ts fraction', { ts: 1.5 }, /"ts"/],
    ['ts string', { ts: '1' }, /"ts"/],
    ['ts NaN-ish', { ts: null }, /"ts"/],
    ['heartbeat 0', { heartbeatMs: 0 }, /"heartbeatMs" must be at least 1/],
    ['seq huge', { seq: 2 ** 60 }, /"seq"/],
    ['lag negative', { lag: -3 }, /"lag"/],
    ['files missing', { files: undefined }, /"files" must be a non-negative integer, got nothing/],
    ['bytes float', { bytes: 0.1 }, /"bytes"/],
    ['inflight bool', { inflight: true }, /"inflight"/],
    ['applied array', { applied: [1] }, /"applied" must be an object/],
    ['applied bad key', { applied: { 'N-1': 1 } }, /"applied" has a key that is not a node id/],
    ['applied bad value', { applied: { n2: -1 } }, /"applied.n2"/],
    ['disk missing', { disk: undefined }, /"disk" must be an object/],
    ['disk free', { disk: { free: -1, total: 1 } }, /"disk.free"/],
    ['disk total', { disk: { free: 1, total: '1' } }, /"disk.total"/],
    ['version empty', { version: '' }, /"version" must be 1 to 64 printable/],
    ['version newline', { version: '1\n2' }, /"version"/],
  ];
  for (const [name, patch, reason] of table) {
    const r = parseStatusMessage(JSON.stringify({ ...goodStatus(), ...patch }));
    assert.is(r.ok, false, name);
    if (!r.ok) assert.match(r.reason, reason, `${name}: ${r.reason}`);
  }
  const r = parseStatusMessage(JSON.stringify(noApplied));
  assert.is(r.ok, false);
  assert.throws(() => statusMessage({ ...goodStatus(), state: 'asleep' as 'online' }), /Cannot build message: "state"/);
  const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`node-${i}`, i]));
  assert.throws(() => statusMessage({ ...goodStatus(), applied: many }), /Cannot build message: payload is larger than 65536 bytes/);
});

test('the resource report: checked when present, optional for nodes that predate it', () => {
  const resources = { cpu: 0.25, load: 1.5, mem: { rss: 60_000_000, free: 1_000_000_000, total: 8_000_000_000 }, requests: 42, traffic: { in: 10, out: 20 } };
  const built = statusMessage({ ...goodStatus(), ...resources });
  assert.ok(built.includes('"version":"0.1.0","cpu":0.25,"load":1.5,"mem":{'), 'after the fields every status has');
  const parsed = parseStatusMessage(built);
  assert.ok(parsed.ok);
  if (parsed.ok) assert.equal({ cpu: parsed.value.cpu, load: parsed.value.load, mem: parsed.value.mem, requests: parsed.value.requests, traffic: parsed.value.traffic }, resources);
  assert.ok(parseStatusMessage(JSON.stringify(goodStatus())).ok, 'a status without them is still a status');
  for (const edge of [{ cpu: 0 }, { cpu: 1 }, { load: 0 }, { load: 123.45 }]) assert.ok(parseStatusMessage(JSON.stringify({ ...goodStatus(), ...edge })).ok, JSON.stringify(edge));
  const table: Bad[] = [
    ['cpu over 1', { cpu: 1.01 }, /"cpu" must be a share from 0 to 1, got 1.01/],
    ['cpu negative', { cpu: -0.1 }, /"cpu" must be a non-negative number/],
    ['cpu string', { cpu: '50%' }, /"cpu"/],
    ['cpu null', { cpu: null }, /"cpu"/],
    ['load negative', { load: -1 }, /"load" must be a non-negative number/],
    ['load string', { load: '1' }, /"load"/],
    ['mem array', { mem: [1, 2, 3] }, /"mem" must be an object/],
    ['mem rss missing', { mem: { free: 1, total: 2 } }, /"mem.rss" must be a non-negative integer, got nothing/],
    ['mem free float', { mem: { rss: 1, free: 1.5, total: 2 } }, /"mem.free"/],
    ['mem total negative', { mem: { rss: 1, free: 1, total: -2 } }, /"mem.total"/],
    ['requests float', { requests: 1.5 }, /"requests"/],
    ['traffic out', { traffic: { in: 1, out: '2' } }, /"traffic.out"/],
  ];
  for (const [name, patch, reason] of table) {
    const r = parseStatusMessage(JSON.stringify({ ...goodStatus(), ...patch }));
    assert.is(r.ok, false, name);
    if (!r.ok) assert.match(r.reason, reason, `${name}: ${r.reason}`);
  }
  assert.throws(() => statusMessage({ ...goodStatus(), cpu: 2 }), /Cannot build message: "cpu"/, 'what we send is what we accept');
});

test('a message this node sends is checked as a receiver checks it', () => {
  assert.throws(() => changeMessage({ ...goodChange(), path: 'a/../b' }), /Cannot build message: "path"/);
  assert.throws(() => changeMessage({ ...goodChange(), op: 'move', from: goodChange().path }), /Cannot build message: a "move" change must have "from" differ/);
  assert.throws(() => ackMessage({ ...goodAck, seq: -1 }), /Cannot build message: "seq"/);
  // Absent optional fields stay absent: the JSON a receiver parses is the checked value.
  const json = changeMessage({ ...goodChange(), prev: undefined });
  assert.not.ok('prev' in JSON.parse(json));
  assert.equal(parseChangeMessage(json), { ok: true, value: JSON.parse(json) });
});

test('change validator rejects a table of bad payloads with reasons', () => {
  const table: Bad[] = [
    ['path traversal', { path: 'a/../b' }, /"path" is not a valid path/],
    ['path absolute', { path: '/a' }, /"path"/],
    ['path empty', { path: '' }, /"path"/],
    ['path reserved', { path: '.nuvem/x' }, /"path"/],
    ['path control', { path: 'a\u0001' }, /"path"/],
    ['path number', { path: 7 }, /"path" must be a path/],
    ['type', { type: 'link' }, /"type" must be one of file, folder/],
    ['version', { version: 'v1' }, /"version" must be a version/],
    ['version upper', { version: '0192F3A4B5C6-0000-n1' }, /"version"/],
    ['version bad node', { version: '0192f3a4b5c6-0000-N1' }, /"version"/],
    ['size negative', { size: -1 }, /"size"/],
    ['modified float', { modified: 1.25 }, /"modified"/],
    ['contentType number', { contentType: 5 }, /"contentType"/],
    ['contentType control', { contentType: 'text/plain\r\nX: y' }, /"contentType"/],
    ['deleted string', { deleted: 'no' }, /"deleted" must be true or false/],
    ['origin', { origin: 'Node 1' }, /"origin" must be a node id/],
    ['seq', { seq: -2 }, /"seq"/],
    ['op', { op: 'copy' }, /"op" must be one of put, delete, move, mkcol/],
    ['op missing', { op: undefined }, /"op"/],
    ['sha short', { sha256: 'abc' }, /"sha256" must be 64 lowercase hex digits, got "abc"/],
    ['sha upper', { sha256: 'AB'.repeat(32) }, /"sha256"/],
    ['sha empty on live file', { sha256: '' }, /"sha256" must be 64 lowercase hex digits, got ""/],
    ['delete not deleted', { op: 'delete' }, /"delete" change must have "deleted": true/],
    ['put deleted', { deleted: true }, /"put" change must have "deleted": false/],
    ['put folder', { type: 'folder' }, /"put" change must be of type "file"/],
    ['mkcol file', { op: 'mkcol' }, /"mkcol" change must be of type "folder"/],
    ['move without from', { op: 'move' }, /"from" must be a path/],
    ['move bad from', { op: 'move', from: '../x' }, /"from" is not a valid path/],
    ['move onto itself', { op: 'move', from: 'docs/a+b.txt' }, /differ/],
    ['from on put', { from: 'x' }, /"from" belongs only to "move"/],
  ];
  for (const [name, patch, reason] of table) {
    const r = parseChangeMessage(JSON.stringify({ ...goodChange(), ...patch }));
    assert.is(r.ok, false, name);
    if (!r.ok) assert.match(r.reason, reason, `${name}: ${r.reason}`);
  }
});

test('ack and event validators reject a table of bad payloads with reasons', () => {
  const acks: Bad[] = [
    ['node', { node: '' }, /"node" must be a node id/],
    ['origin', { origin: 'x y' }, /"origin"/],
    ['seq', { seq: 1.5 }, /"seq"/],
    ['path', { path: 'a//b' }, /"path"/],
    ['version', { version: '' }, /"version"/],
  ];
  for (const [name, patch, reason] of acks) {
    const r = parseAckMessage(JSON.stringify({ ...goodAck, ...patch }));
    assert.is(r.ok, false, name);
    if (!r.ok) assert.match(r.reason, reason, `${name}: ${r.reason}`);
  }
  for (const type of ['conflict', 'repair', 'disk_low', 'joined', 'left']) {
    assert.ok(parseEventMessage(JSON.stringify({ type, node: 'n1', ts: 1 })).ok, type);
  }
  const events: Bad[] = [
    ['type', { type: 'boom' }, /"type" must be one of conflict, repair, disk_low, joined, left/],
    ['type missing', {}, /"type"/],
    ['node', { type: 'joined', node: 'N' }, /"node"/],
    ['ts', { type: 'joined', ts: -5 }, /"ts"/],
    ['path', { type: 'conflict', path: '../x' }, /"path"/],
    ['version', { type: 'conflict', version: 'x' }, /"version"/],
  ];
  for (const [name, payload, reason] of events) {
    const r = parseEventMessage(JSON.stringify(payload));
    assert.is(r.ok, false, name);
    if (!r.ok) assert.match(r.reason, reason, `${name}: ${r.reason}`);
  }
});

test.run();
