/**
 * Convergence under churn (DESIGN.md 7.2 and 7.3): a seeded run of a few
 * hundred random changes (new files and overwrites with random bodies of 0 to
 * 64 KiB, deletes, moves, empty folders) sent with `w=1` to random nodes by a
 * few concurrent workers, while nodes are killed with `kill -9` and restarted
 * and the broker is restarted. At the end every node holds the same records
 * and bytes, and every acknowledged write is still there: the current version
 * of its path, or a kept revision, or overtaken by a later acknowledged change
 * of that path.
 *
 * Files live at depth 2 (`dK/fN`) and empty folders at `mK`; besides, `cK`
 * is made a file, an empty folder, or the folder of files `cK/fN` by
 * different writes, so while the broker is down (the nodes cannot see each
 * other between anti-entropy passes) a file and a folder of one name are made
 * on two nodes and must be settled alike everywhere (nodes/clash.ts). One node
 * is restored from an older copy of its data folder (copied while it was
 * stopped, early in the run; restored once its later writes are on the other
 * nodes), so it gives again seqs its peers applied. Ten phantom members with
 * long URLs are announced on the broker from the start (they never answer).
 * `SEED=… npm test -- convergence` replays a run (the operations; timing
 * between workers still varies).
 */
import { cpSync, rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prng, randomBytesFrom } from './_support/bytes.ts';
import { startCluster, type Answer, type Cluster, type ListedRecord } from './_support/cluster.ts';

const SEED = Number(process.env.SEED ?? 20261124);
const OPS = Number(process.env.OPS ?? 300);
const WORKERS = 3;
const KEEP_REVISIONS = 10;

type Op =
  | { kind: 'put'; path: string; size: number; bodySeed: number }
  | { kind: 'delete'; path: string }
  | { kind: 'move'; from: string; to: string }
  | { kind: 'mkcol'; path: string }
  | { kind: 'rmdir'; path: string };

type Chaos =
  | { kind: 'kill'; k: number }
  | { kind: 'restart'; k: number }
  | { kind: 'stopBroker' }
  | { kind: 'startBroker' }
  | { kind: 'clash'; n: number }
  | { kind: 'backup'; k: number }
  | { kind: 'restore'; k: number };

interface Planned {
  op: Op;
  /** The node to send it to (the next running one if this one is down). */
  k: number;
}

/** An acknowledged (2xx) change, in the order the answers came. */
interface Acked {
  ack: number;
  op: Op['kind'];
  path: string;
  from?: string;
  version?: string;
  sha256?: string;
  node: string;
}

function plan(seed: number, n: number): { ops: Planned[]; chaos: Map<number, Chaos[]> } {
  const rnd = prng(seed);
  const pick = (m: number) => Math.floor(rnd() * m);
  const filePath = () => `d${pick(4)}/f${pick(10)}`;
  const ops: Planned[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let op: Op;
    if (r < 0.5) op = { kind: 'put', path: filePath(), size: rnd() < 0.1 ? 0 : pick(64 * 1024 + 1), bodySeed: seed * 1000 + i };
    else if (r < 0.65) op = { kind: 'delete', path: filePath() };
    else if (r < 0.85) {
      const from = filePath();
      let to = filePath();
      while (to === from) to = filePath();
      op = { kind: 'move', from, to };
    } else if (r < 0.9) op = { kind: 'mkcol', path: `m${pick(5)}` };
    else if (r < 0.92) op = { kind: 'rmdir', path: `m${pick(5)}` };
    else if (r < 0.96) op = { kind: 'put', path: rnd() < 0.5 ? `c${pick(2)}` : `c${pick(2)}/f${pick(3)}`, size: pick(4096), bodySeed: seed * 1000 + i };
    else if (r < 0.98) op = { kind: 'mkcol', path: `c${pick(2)}` };
    else op = { kind: 'delete', path: `c${pick(2)}` };
    ops.push({ op, k: 1 + pick(3) });
  }
  // Two node kills with restarts, and one broker restart, at fixed points of the run.
  const first = 1 + pick(3);
  const second = 1 + ((first + pick(2)) % 3);
  const at = (f: number) => Math.floor(n * f);
  const restored = 1 + pick(3);
  const chaos = new Map<number, Chaos[]>([
    [at(0.1), [{ kind: 'backup', k: restored }]],
    [at(0.2), [{ kind: 'kill', k: first }]],
    [at(0.4), [{ kind: 'restart', k: first }]],
    [at(0.5), [{ kind: 'stopBroker' }]],
    [at(0.55), [{ kind: 'clash', n: 0 }]],
    [at(0.6), [{ kind: 'clash', n: 1 }]],
    [at(0.65), [{ kind: 'startBroker' }]],
    [at(0.7), [{ kind: 'restore', k: restored }]],
    [at(0.75), [{ kind: 'kill', k: second }]],
    [at(0.9), [{ kind: 'restart', k: second }]],
  ]);
  return { ops, chaos };
}

async function send(cluster: Cluster, k: number, op: Op): Promise<Answer> {
  switch (op.kind) {
    case 'put':
      return cluster.put(k, op.path, randomBytesFrom(op.bodySeed, op.size), { w: 1 });
    case 'delete':
      return cluster.remove(k, op.path, { w: 1 });
    case 'move':
      return cluster.move(k, op.from, op.to, { w: 1 });
    case 'mkcol':
      return cluster.mkcol(k, op.path, { w: 1 });
    case 'rmdir':
      return cluster.remove(k, op.path, { w: 1 });
  }
}

/** Requests under way per node (a node is restored only once none is). */
const inflight = new Map<number, number>();

/**
 * Waits until the other nodes have applied every change node k made (its
 * writes answered with w=1 are then safe from its restore).
 */
async function othersHoldAllOf(cluster: Cluster, k: number): Promise<void> {
  const seq = (await cluster.request(k, '/status')).json.seq as number;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const applied = await Promise.all(cluster.live().filter((j) => j !== k).map(async (j) => (await cluster.request(j, '/status')).json.applied[cluster.id(k)] ?? 0));
    if (applied.every((a) => a >= seq)) return;
    if (Date.now() > deadline) throw new Error(`the other nodes did not apply ${cluster.id(k)}'s changes up to ${seq} within 30 s: ${applied.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * With the broker down: at the same moment, a file `xN/a` on one running
 * node, a file `xN/a/b` on another, an empty folder `xN/c` on the first and a
 * file `xN/c` on the other: clashes the nodes meet only later. Returns the
 * writes acknowledged.
 */
async function clash(cluster: Cluster, n: number, down: Set<number>): Promise<{ k: number; op: Op; res: Answer }[]> {
  const [i, j] = cluster.live().filter((k) => !down.has(k));
  if (j === undefined) return [];
  const ops: [number, Op][] = [
    [i, { kind: 'put', path: `x${n}/a`, size: 100, bodySeed: 7000 + n }],
    [j, { kind: 'put', path: `x${n}/a/b`, size: 200, bodySeed: 7100 + n }],
    [i, { kind: 'mkcol', path: `x${n}/c` }],
    [j, { kind: 'put', path: `x${n}/c`, size: 300, bodySeed: 7200 + n }],
  ];
  const answers = await Promise.all(ops.map(async ([k, op]) => ({ k, op, res: await send(cluster, k, op) })));
  return answers.filter((a) => a.res.status >= 200 && a.res.status < 300);
}

async function runChaos(cluster: Cluster, c: Chaos, down: Set<number>): Promise<void> {
  if (c.kind === 'clash') return;
  if (c.kind === 'backup' || c.kind === 'restore') {
    down.add(c.k); // no new requests go there from now on
    while ((inflight.get(c.k) ?? 0) > 0) await new Promise((r) => setTimeout(r, 20));
    if (c.kind === 'restore') await othersHoldAllOf(cluster, c.k);
    await cluster.kill(c.k);
    const copy = `${cluster.dataDir(c.k)}.backup`;
    if (c.kind === 'backup') cpSync(cluster.dataDir(c.k), copy, { recursive: true });
    else {
      rmSync(cluster.dataDir(c.k), { recursive: true, force: true });
      cpSync(copy, cluster.dataDir(c.k), { recursive: true });
      console.log(`  (${cluster.id(c.k)} restored from the copy of its data folder made at 10% of the run)`);
    }
    await cluster.restart(c.k);
    down.delete(c.k);
  } else if (c.kind === 'kill') {
    down.add(c.k); // no new requests go there from now on
    await cluster.kill(c.k);
  } else if (c.kind === 'restart') {
    await cluster.restart(c.k);
    down.delete(c.k);
  } else if (c.kind === 'stopBroker') {
    await cluster.stopBroker();
  } else {
    await cluster.startBroker();
  }
}

const convergence = suite('convergence');
let cluster: Cluster | undefined;

convergence.after(async () => {
  await cluster?.close();
});

// ---

convergence(`random changes through random nodes with kills, restarts and a broker restart converge and lose no acknowledged write`, async () => {
  console.log(`\n  (convergence: SEED=${SEED}, ${OPS} operations; replay with SEED=${SEED} npm test -- convergence)`);
  const started = Date.now();
  cluster = await startCluster({ nodes: 3, antiEntropyMs: 2000, label: 'convergence' });
  const c = cluster;
  // Ten phantom members, announced once with long URLs: members that never answer.
  const phantoms = await mqtt.connectAsync(c.brokerUrl, { reconnectPeriod: 0 });
  for (let i = 0; i < 10; i++) {
    const id = `phantom-${i}`;
    await phantoms.publishAsync(`nuvem/nodes/${id}/status`, JSON.stringify({
      id, url: `http://127.0.0.1:9/${'p'.repeat(2000)}`, state: 'online', ts: Date.now(), startedAt: Date.now(), heartbeatMs: 1000,
      seq: 0, applied: {}, lag: 0, files: 0, bytes: 0, disk: { free: 1, total: 1 }, inflight: 0, version: '0.1.0',
    }), { qos: 1, retain: true });
  }
  await phantoms.endAsync();
  const { ops, chaos } = plan(SEED, OPS);
  const down = new Set<number>();
  const acked: Acked[] = [];
  const statuses = new Map<string, number>();
  const failures: string[] = [];
  /** Answers the path scheme should not cause, printed for whoever reads the log. */
  const unusual: string[] = [];
  let next = 0;
  let chaosDone: Promise<void> = Promise.resolve();
  let clashes = 0;

  const worker = async () => {
    while (next < ops.length) {
      const i = next++;
      // Chaos steps run one after another, in the order planned (a restore waits for replication).
      for (const ch of chaos.get(i) ?? []) {
        await (chaosDone = chaosDone.then(() => runChaos(c, ch, down)));
        if (ch.kind === 'clash') {
          for (const a of await clash(c, ch.n, down)) {
            const base = { ack: acked.length, node: `node-${a.k}` };
            if (a.op.kind === 'put') acked.push({ ...base, op: 'put', path: a.op.path, version: a.res.json.version, sha256: a.res.json.sha256 });
            else if (a.op.kind === 'mkcol') acked.push({ ...base, op: 'mkcol', path: a.op.path, version: a.res.json.version });
            clashes++;
          }
        }
      }
      const { op } = ops[i];
      let k = ops[i].k;
      while (down.has(k)) k = (k % 3) + 1;
      let res: Answer;
      inflight.set(k, (inflight.get(k) ?? 0) + 1);
      try {
        res = await send(c, k, op);
      } catch (err) {
        // The node died under the request (or a kill was under way): not acknowledged.
        statuses.set('error', (statuses.get('error') ?? 0) + 1);
        if (!down.has(k)) failures.push(`op ${i} ${JSON.stringify(op)} on node-${k} failed: ${(err as Error).message}`);
        continue;
      } finally {
        inflight.set(k, inflight.get(k)! - 1);
      }
      statuses.set(`${op.kind} ${res.status}`, (statuses.get(`${op.kind} ${res.status}`) ?? 0) + 1);
      if (res.status === 409 || res.status === 412) unusual.push(`${op.kind} ${res.status} on node-${k}: ${JSON.stringify(op)} → ${res.body.toString().slice(0, 200)}`);
      if (res.status >= 500) failures.push(`op ${i} ${JSON.stringify(op)} on node-${k}: ${res.status} ${res.body.toString().slice(0, 300)}`);
      if (res.status < 200 || res.status >= 300) continue;
      const base = { ack: acked.length, node: `node-${k}` };
      if (op.kind === 'put') acked.push({ ...base, op: 'put', path: op.path, version: res.json.version, sha256: res.json.sha256 });
      else if (op.kind === 'move') acked.push({ ...base, op: 'move', path: op.to, from: op.from, version: res.json.version, sha256: res.json.sha256 });
      else if (op.kind === 'mkcol') acked.push({ ...base, op: 'mkcol', path: op.path, version: res.json.version });
      else acked.push({ ...base, op: op.kind, path: op.path });
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  const opsDone = Date.now();
  console.log(`  (${acked.length} of ${OPS} acknowledged in ${((opsDone - started) / 1000).toFixed(1)} s; answers: ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(', ')})`);
  for (const u of unusual.slice(0, 5)) console.log(`  (unusual answer: ${u})`);
  assert.equal(failures, [], 'no 5xx answers, no failed requests to running nodes');

  for (const k of c.ks) if (!c.running(k)) await c.restart(k);
  if (!c.brokerRunning()) await c.startBroker();
  await c.waitMesh({ timeoutMs: 20_000 });
  const listing = await c.waitConverged({ timeoutMs: 40_000 });
  console.log(`  (converged ${((Date.now() - opsDone) / 1000).toFixed(1)} s after the last operation: ${listing.length} records; ` +
    `${clashes} of 8 clashing writes made while the broker was down acknowledged; x0, x1: ${listing.filter((r) => /^x\d/.test(r.path)).map((r) => r.path).join(' ')})`);

  // Nothing acknowledged is lost.
  const current = new Map<string, ListedRecord>(listing.map((r) => [r.path, r]));
  const revisionsCache = new Map<string, { version: string; sha256: string }[][]>();
  const revisionsOf = async (path: string) => {
    let per = revisionsCache.get(path);
    if (!per) {
      per = await Promise.all(c.ks.map(async (k) => {
        const res = await c.request(k, `/revisions/${path}`);
        return res.status === 200 ? res.json.revisions : [];
      }));
      revisionsCache.set(path, per);
    }
    return per;
  };
  const touchedLater = (w: Acked) => acked.some((o) => o.ack > w.ack && (o.path === w.path || o.from === w.path));
  const tally = { current: 0, revision: 0, overtaken: 0 };
  const lost: string[] = [];
  const uneven: string[] = [];
  for (const w of acked) {
    if (w.version === undefined) continue; // deletes leave tombstones, which listings hide
    const now = current.get(w.path);
    if (now?.version === w.version) {
      tally.current++;
      continue;
    }
    if (w.op === 'mkcol') {
      if (touchedLater(w)) tally.overtaken++;
      else lost.push(`mkcol ${w.path} ${w.version} (acked by ${w.node}) is gone and nothing later touched it; now ${JSON.stringify(now)}`);
      continue;
    }
    const per = await revisionsOf(w.path);
    const holders = per.map((revs) => revs.some((r) => r.version === w.version && r.sha256 === w.sha256));
    if (holders.some(Boolean)) {
      tally.revision++;
      if (!holders.every(Boolean)) uneven.push(`${w.path} ${w.version}: kept on ${holders.map((h, i) => (h ? `node-${i + 1}` : '')).filter(Boolean).join(',')} only`);
      continue;
    }
    // Not current, not kept: fine only when a later acknowledged change replaced it, and
    // then either moved it away or pushed it out of the last KEEP_REVISIONS revisions.
    const movedAway = acked.some((o) => o.ack > w.ack && o.op === 'move' && o.from === w.path);
    const pushedOut = per.some((revs) => revs.length >= KEEP_REVISIONS && revs.every((r) => r.version > w.version!));
    if (touchedLater(w) && (movedAway || pushedOut)) tally.overtaken++;
    else {
      lost.push(`${w.op} ${w.path} ${w.version} sha ${w.sha256?.slice(0, 12)} (acked by ${w.node}): now ${now ? `${now.version} ${now.sha256?.slice(0, 12)}` : 'absent'}, ` +
        `revisions ${per.map((revs) => revs.length).join('/')}, later changes: ${acked.filter((o) => o.ack > w.ack && (o.path === w.path || o.from === w.path)).map((o) => `${o.op}@${o.node}`).join(' ') || 'none'}`);
    }
  }
  console.log(`  (acknowledged writes: ${tally.current} current, ${tally.revision} kept as revisions, ${tally.overtaken} overtaken by later changes` +
    `${uneven.length ? `; ${uneven.length} kept on some nodes only` : ''}; total ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  assert.equal(lost, [], 'every acknowledged write is current, kept, or overtaken');
});

convergence.run();
