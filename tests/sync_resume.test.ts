// Resuming `nuvem sync` from a saved place in a node's change feed
// (client/sync_resume.ts) against a real node on a loopback port, reached
// through the client library: a replay reads every change after the saved
// cursor and ends at the feed's end; the saved mark is refused when the
// ignore rules changed; and a node that pruned its log past the cursor
// (`410 Gone`, here from a small proxy in front of the node that answers as
// a pruning node would for cursors below its horizon) or whose log no longer
// holds the cursor means "list instead", never a silent gap. A mirror whose
// node answers 410 lists the folder and converges.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type NuvemClient } from '../client/mod.ts';
import { SyncFolder } from '../client/sync.ts';
import { markText, readMark, replayFeed, rulesDigest } from '../client/sync_resume.ts';
import { SyncState } from '../client/sync_state.ts';
import { realNode } from './_support/real_node.ts';
import { tempDir, type TempDir } from './_support/temp.ts';

const resume = suite('resume from a change feed');
let node: Awaited<ReturnType<typeof realNode>>;
let proxy: Server;
let proxyUrl: string;
let client: NuvemClient;
let dir: TempDir;
/** Cursors below this get `410 Gone` from the proxy (as from a node that pruned its log); 0: none. */
let horizon = 0;
const seen: string[] = [];

const nodeUrl = () => node.node.url;

async function put(path: string, body: string): Promise<void> {
  const res = await fetch(`${nodeUrl()}/files/${path}`, { method: 'PUT', body });
  assert.ok(res.ok, `PUT ${path}: ${res.status}`);
}

resume.before(async () => {
  node = await realNode();
  dir = tempDir('sync-resume');
  proxy = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const url = new URL(req.url!, 'http://x');
    const since = Number(url.searchParams.get('since') ?? 0);
    if (url.pathname === '/changes' && horizon > 0 && since < horizon) {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'gone', message: `Cannot read changes after ${since}: the log starts after ${horizon}; list again` }));
      return;
    }
    const target = new URL(nodeUrl());
    const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  client = createClient({ nodes: [proxyUrl], pollMs: 60_000 });
  await client.ready();
});

resume.after(async () => {
  await client?.close();
  await new Promise((done) => proxy?.close(done));
  await node?.close();
  dir?.cleanup();
});

resume('a replay passes on every change after the cursor and ends at the end of the feed', async () => {
  await put('r/a.txt', 'a');
  const { node: id, cursor } = await client.feedEnd();
  assert.is(id, node.node.id);
  await put('r/b.txt', 'b');
  await put('r/a.txt', 'a2');
  const paths: string[] = [];
  const replay = await replayFeed(client, { mark: { node: id, cursor }, apply: (c) => paths.push(c.path) });
  assert.ok(replay.ok);
  assert.equal(paths, ['r/b.txt', 'r/a.txt']);
  assert.is(replay.ok && replay.mark.cursor, (await client.feedEnd()).cursor);
  assert.is(replay.ok && replay.mark.node, id);
});

resume('a saved mark holds for the ignore rules it was taken under only', () => {
  const text = markText({ node: 'n1', cursor: '42' }, { ignore: '*.tmp\n' });
  assert.equal(readMark(text, { ignore: '*.tmp\n' }), { mark: { node: 'n1', cursor: '42' }, reason: '' });
  assert.match(readMark(text, { ignore: '' }).reason, /\.nuvemignore changed/);
  assert.match(readMark(undefined, { ignore: '' }).reason, /no saved position/);
  assert.match(readMark('{"node":1}', { ignore: '' }).reason, /unreadable/);
  assert.is(JSON.parse(text).ignore, rulesDigest('*.tmp\n'));
});

resume('410 Gone, a cursor the log no longer holds, or an unknown node mean "list instead"', async () => {
  const { node: id, cursor } = await client.feedEnd();
  await put('r/c.txt', 'c');
  horizon = Number(cursor) + 1;
  try {
    const replay = await replayFeed(client, { mark: { node: id, cursor }, apply: () => {} });
    assert.equal(replay, { ok: false, reason: `node ${id} pruned its change log past the saved position (410)` });
  } finally {
    horizon = 0;
  }
  const beyond = String(Number((await client.feedEnd()).cursor) + 50); // a log that was reset since
  const reset = await replayFeed(client, { mark: { node: id, cursor: beyond }, apply: () => {} });
  assert.equal(reset, { ok: false, reason: `node ${id}'s change log no longer holds the saved position` });
  const gone = await replayFeed(client, { mark: { node: 'node-gone', cursor }, apply: () => {} });
  assert.ok(!gone.ok && /node-gone: not known to this client/.test(gone.reason), JSON.stringify(gone));
});

resume('a mirror whose node answers 410 to its saved cursor lists the folder and converges', async () => {
  const local = join(dir.path, 'mirror');
  mkdirSync(local);
  await put('m/one.txt', 'one');
  const first = new SyncFolder({ dir: local, client, remote: 'm', settleMs: 100 });
  assert.is((await first.reconcile()).failed, 0);
  await first.close();
  assert.is(readFileSync(join(local, 'one.txt'), 'utf8'), 'one');
  const state = SyncState.open(local);
  const saved = readMark(state.meta('feed'), { ignore: '' }).mark!;
  state.close();
  assert.is(saved.node, node.node.id);
  await put('m/two.txt', 'two');
  await fetch(`${nodeUrl()}/files/m/one.txt`, { method: 'DELETE' });
  writeFileSync(join(local, 'three.txt'), 'three');
  horizon = Number(saved.cursor) + 1;
  seen.length = 0;
  try {
    const second = new SyncFolder({ dir: local, client, remote: 'm', settleMs: 100 });
    const summary = await second.reconcile();
    await second.close();
    assert.is(summary.failed + summary.unsettled, 0);
  } finally {
    horizon = 0;
  }
  assert.ok(seen.some((r) => r.startsWith('GET /changes') && Number(new URL(r.slice(4), 'http://x').searchParams.get('since')) < Number(saved.cursor) + 1));
  assert.ok(seen.some((r) => /^GET \/files\/m\/\?.*recursive=true/.test(r)), seen.join('\n'));
  const remote = (await client.list('m')).map((e) => e.path).sort();
  assert.equal(remote, ['m/three.txt', 'm/two.txt']);
  assert.is(readFileSync(join(local, 'two.txt'), 'utf8'), 'two');
  assert.not.ok(existsSync(join(local, 'one.txt')));
});

resume.run();
