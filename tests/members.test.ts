/**
 * Members come and go (nodes/membership.ts): phantom members, published as
 * nodes with valid node credentials, must not push the real nodes' statuses
 * past the payload limit (which made every node look offline); a member
 * unseen for the TTL leaves the list, which unblocks tombstone purges and
 * `w=all`; and `nuvem members forget ID` removes one sooner, on every node,
 * through the CLI.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { build } from 'esbuild';
import mqtt, { type MqttClient } from 'mqtt';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clearsStatus } from '../broker/auth.ts';
import { nodeCredential } from '../protocol/credentials.ts';
import { MAX_PAYLOAD_BYTES } from '../protocol/messages.ts';
import { startCluster, type Cluster } from './_support/cluster.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { sleep, until } from './_support/sleep.ts';
import { tempDir } from './_support/temp.ts';

const TOKEN = 'members-token';
const NODE_TOKEN = 'members-node-token';
const LONG_URL = `http://127.0.0.1:9/${'x'.repeat(2000)}`;

function status(id: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id, url: LONG_URL, state: 'online', ts: Date.now(), startedAt: Date.now(), heartbeatMs: 1000,
    seq: 0, applied: {}, lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 1 }, inflight: 0, version: '0.1.0', ...fields,
  });
}

/** Connects as node `id` with its node credential and publishes its retained status; returns the client. */
async function phantom(c: Cluster, id: string, fields: Record<string, unknown> = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(c.brokerUrl, {
    clientId: `nuvem-node-${id}`, username: id, password: nodeCredential(NODE_TOKEN, id), reconnectPeriod: 0,
  });
  await client.publishAsync(`nuvem/nodes/${id}/status`, status(id, fields), { qos: 1, retain: true });
  return client;
}

async function members(c: Cluster, k: number): Promise<string[]> {
  const res = await c.request(k, '/members');
  assert.is(res.status, 200, res.body.toString());
  return (res.json.members as { id: string }[]).map((m) => m.id).sort();
}

// ---

const acl = suite('forgetting on the broker');

acl('a node may clear another node\'s retained status (an empty retained message), and nothing else of it; a client may not', () => {
  const node = { kind: 'node', id: 'node-1' } as const;
  const empty = new Uint8Array(0);
  assert.ok(clearsStatus(node, { topic: 'nuvem/nodes/gone-node/status', payload: empty, retain: true }, 'nuvem'));
  assert.not.ok(clearsStatus(node, { topic: 'nuvem/nodes/gone-node/status', payload: '{"id":"gone-node"}', retain: true }, 'nuvem'), 'a payload');
  assert.not.ok(clearsStatus(node, { topic: 'nuvem/nodes/gone-node/status', payload: empty, retain: false }, 'nuvem'), 'not retained');
  assert.not.ok(clearsStatus(node, { topic: 'nuvem/nodes/gone-node/other', payload: empty, retain: true }, 'nuvem'), 'another topic');
  assert.not.ok(clearsStatus(node, { topic: 'nuvem/nodes/gone-node/status/x', payload: empty, retain: true }, 'nuvem'));
  assert.not.ok(clearsStatus({ kind: 'reader' }, { topic: 'nuvem/nodes/gone-node/status', payload: empty, retain: true }, 'nuvem'), 'a client');
  assert.not.ok(clearsStatus(undefined, { topic: 'nuvem/nodes/gone-node/status', payload: empty, retain: true }, 'nuvem'));
});

acl.run();

// ---

const many = suite('many phantom members');
let big: Cluster | undefined;
const phantoms: MqttClient[] = [];

many.after(async () => {
  await Promise.all(phantoms.map((p) => p.endAsync(true).catch(() => {})));
  await big?.close();
});

many('40 phantom members with 2 KB URLs: every status stays under the payload limit and the real nodes stay online to each other', async () => {
  big = await startCluster({ nodes: 2, token: TOKEN, nodeToken: NODE_TOKEN, label: 'members-many' });
  const c = big;
  for (let i = 0; i < 40; i++) phantoms.push(await phantom(c, `phantom-${i}`, { heartbeatMs: 10_000 }));
  await until('both nodes know the 40 phantoms', async () => (await members(c, 1)).length === 41 && (await members(c, 2)).length === 41);
  // Several heartbeats later, each node still hears the other's statuses.
  await sleep(3000);
  await c.waitMesh({ timeoutMs: 5000 });
  for (const k of c.ks) {
    const s = await c.request(k, '/status');
    assert.ok(s.body.length < MAX_PAYLOAD_BYTES, `node-${k}'s status is ${s.body.length} bytes`);
    assert.is(s.json.members, 41);
    assert.ok(s.json.cluster.length <= 64);
  }
  // The retained statuses on the broker are fresh.
  const reader = await mqtt.connectAsync(c.brokerUrl, { username: 'reader', password: TOKEN, reconnectPeriod: 0 });
  try {
    const seen = new Map<string, number>();
    reader.on('message', (topic, payload) => {
      const m = /^nuvem\/nodes\/(node-\d)\/status$/.exec(topic);
      if (m) seen.set(m[1], JSON.parse(payload.toString()).ts);
    });
    await reader.subscribeAsync('nuvem/nodes/+/status');
    await until('fresh statuses of both real nodes', () => ['node-1', 'node-2'].every((id) => Date.now() - (seen.get(id) ?? 0) < 2500), 5000);
  } finally {
    await reader.endAsync(true);
  }
  for (const k of c.ks) {
    const put = await c.put(k, `many/from-${k}.txt`, `hello ${k}`, { w: 'auto' });
    assert.is(put.status, 201, `w=auto PUT on node-${k}: ${put.status} ${put.body.toString()}`);
    assert.equal(put.json.replicas.sort(), ['node-1', 'node-2']);
  }
});

many.run();

// ---

const ttl = suite('member TTL');
let small: Cluster | undefined;
let ghost: MqttClient | undefined;
const TTL_MS = 15_000;

ttl.after(async () => {
  await ghost?.endAsync(true).catch(() => {});
  await small?.close();
});

ttl('a member unseen for the TTL leaves the member list: w=all and the tombstone purge it held back go through', async () => {
  small = await startCluster({ nodes: 2, token: TOKEN, nodeToken: NODE_TOKEN, antiEntropyMs: 1000, nodeArgs: ['--member-ttl-ms', String(TTL_MS), '--trash-days', '0'], label: 'members-ttl' });
  const c = small;
  assert.is((await c.put(1, 'ttl/gone.txt', 'soon deleted', { w: 'auto' })).status, 201);
  ghost = await phantom(c, 'ghost', { url: 'http://127.0.0.1:9' });
  const published = Date.now();
  await until('both nodes know the ghost', async () => (await members(c, 1)).includes('ghost') && (await members(c, 2)).includes('ghost'));
  assert.is((await c.remove(2, 'ttl/gone.txt', { w: 'auto' })).status, 204);
  const blocked = await c.put(1, 'ttl/all.txt', 'w=all', { w: 'all' });
  assert.is(blocked.status, 503, 'w=all waits for the ghost while it is a member');
  assert.is(blocked.json.error, 'write_concern');
  assert.is(await c.metric(1, 'nuvem_tombstones'), 1, 'the ghost holds the purge back');
  assert.ok(Date.now() - published < TTL_MS, 'checked within the TTL');

  const { ms } = await until('the ghost left both member lists', async () => !(await members(c, 1)).includes('ghost') && !(await members(c, 2)).includes('ghost'), 3 * TTL_MS);
  console.log(`\n  (the ghost left the member lists ${((Date.now() - published) / 1000).toFixed(1)} s after its last status; TTL ${TTL_MS / 1000} s; waited ${(ms / 1000).toFixed(1)} s)`);
  const all = await c.put(1, 'ttl/all-after.txt', 'w=all', { w: 'all' });
  assert.is(all.status, 201, `w=all after the TTL: ${all.status} ${all.body.toString()}`);
  await until('the tombstone purged on both nodes', async () => (await c.metric(1, 'nuvem_tombstones')) === 0 && (await c.metric(2, 'nuvem_tombstones')) === 0, 10_000);
  // Its retained status, redelivered on a restart, does not bring it back.
  await c.kill(2);
  await c.restart(2);
  await c.waitMesh();
  await sleep(1500);
  assert.not.ok((await members(c, 2)).includes('ghost'), 'an old retained status does not make the ghost a member again');
  assert.equal(c.crashes(), []);
});

ttl.run();

// ---

const forget = suite('nuvem members forget');
let fc: Cluster | undefined;
let gone: MqttClient | undefined;
const cliDir = tempDir('members-cli');
let cli = '';

forget.before(async () => {
  cli = join(cliDir.path, 'nuvem-cli.mjs');
  await build({
    entryPoints: [join(REPO_ROOT, 'client/cli.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    outfile: cli, logLevel: 'warning',
    banner: { js: "import { createRequire as __nuvemRequire } from 'node:module'; const require = __nuvemRequire(import.meta.url);" },
  });
});

forget.after(async () => {
  await gone?.endAsync(true).catch(() => {});
  await fc?.close();
  cliDir.cleanup();
});

function nuvem(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', NUVEM_TOKEN: TOKEN } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

forget('nuvem members forget ID: every node forgets a member gone for good, its retained status is cleared, and w=all goes through', async () => {
  fc = await startCluster({ nodes: 2, token: TOKEN, nodeToken: NODE_TOKEN, label: 'members-forget' });
  const c = fc;
  // A member that went away: its last status says offline (as a Last Will does).
  gone = await phantom(c, 'gone-node', { url: 'http://127.0.0.1:9', state: 'offline' });
  await until('both nodes know gone-node', async () => (await members(c, 1)).includes('gone-node') && (await members(c, 2)).includes('gone-node'));
  const nodes = ['--nodes', c.url(1)];

  const listed = await nuvem([...nodes, 'members']);
  assert.is(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /gone-node\s+offline/);
  assert.match(listed.stdout, /node-2\s+online/);

  const refused = await nuvem([...nodes, 'members', 'forget', 'node-2']);
  assert.is(refused.code, 1, 'an online member cannot be forgotten');
  assert.match(refused.stderr, /online/);
  const usage = await nuvem([...nodes, 'members', 'drop', 'x']);
  assert.is(usage.code, 2, usage.stderr);

  assert.is((await c.put(1, 'forget/before.txt', 'x', { w: 'all' })).status, 503, 'w=all waits for gone-node while it is a member');
  const forgot = await nuvem([...nodes, '--json', 'members', 'forget', 'gone-node']);
  assert.is(forgot.code, 0, forgot.stderr);
  assert.equal(JSON.parse(forgot.stdout), { node: 'node-1', forgotten: 'gone-node', wasMember: true });
  await until('both nodes forgot gone-node', async () => !(await members(c, 1)).includes('gone-node') && !(await members(c, 2)).includes('gone-node'), 5000);
  const all = await c.put(2, 'forget/after.txt', 'x', { w: 'all' });
  assert.is(all.status, 201, `w=all on node-2 once gone-node is forgotten: ${all.status} ${all.body.toString()}`);

  // The broker no longer holds its status: a new subscriber gets none.
  const reader = await mqtt.connectAsync(c.brokerUrl, { username: 'reader', password: TOKEN, reconnectPeriod: 0 });
  try {
    const retained: string[] = [];
    reader.on('message', (topic, payload) => payload.length && retained.push(topic));
    await reader.subscribeAsync('nuvem/nodes/+/status');
    await sleep(500);
    assert.not.ok(retained.includes('nuvem/nodes/gone-node/status'), `retained statuses: ${retained.join(', ')}`);
  } finally {
    await reader.endAsync(true);
  }
  // A client (the cluster token without the node token) may not clear a node's status.
  const client = await mqtt.connectAsync(c.brokerUrl, { username: 'someone', password: TOKEN, reconnectPeriod: 0 });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish('nuvem/nodes/node-2/status', '', { qos: 1, retain: true });
  await closed; // a refused publish closes the connection
  await client.endAsync(true).catch(() => {});
  await sleep(300);
  assert.ok((await members(c, 1)).includes('node-2'), 'node-2 is still a member of node-1');
  assert.equal(c.crashes(), []);
});

forget.run();
