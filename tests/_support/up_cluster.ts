/**
 * `nuvem up` as a real child process on free loopback ports, for tests that
 * need the whole thing (the dashboard): its "cluster ready" line parsed, its
 * nodes' PIDs and command lines found under /proc (to `kill -9` one and
 * start it again exactly as `up` did), and a stop that takes everything down.
 * Linux only (/proc), like CI.
 *
 * @example
 * const up = await startUpCluster({ nodes: 3 });
 * await up.killNode('node-3');
 * await up.restartNode('node-3');
 * await up.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './node_process.ts';
import { freePorts } from './ports.ts';
import { sleep } from './sleep.ts';
import { tempDir, type TempDir } from './temp.ts';

export interface UpCluster {
  nodes: { id: string; url: string }[];
  mqtt: string;
  ws: string;
  dashboard: string;
  dir: TempDir;
  /** stdout and stderr lines so far, for failure messages. */
  output(): string;
  /** `kill -9` of a node `up` started (or restarted here); resolves once it is gone. */
  killNode(id: string): Promise<void>;
  /** Starts a killed node again with the command line `up` gave it; resolves once it listens. */
  restartNode(id: string): Promise<void>;
  /** SIGINT to `up` (and SIGKILL to anything left after 8 s), restarted nodes too; removes the data. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** PIDs of the processes whose parent is `ppid`, with their command lines. */
function childrenOf(ppid: number): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== ppid) continue;
      out.push({ pid: Number(name), argv: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function spawnGroup(command: string, args: string[]): { child: ChildProcess; lines: string[] } {
  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, NUVEM_TOKEN: '' } });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
  return { child, lines };
}

async function until<T>(what: string, fn: () => T | undefined, ms: number, context: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${context()}`);
    await sleep(50);
  }
}

const gone = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

export async function startUpCluster(options: { nodes?: number } = {}): Promise<UpCluster> {
  const count = options.nodes ?? 3;
  const dir = tempDir('up-cluster');
  const { base, others } = await freePorts(count, 2);
  const up = spawnGroup(process.execPath, [
    'bin/nuvem.js', 'up', '--nodes', String(count), '--data', dir.path,
    '--base-port', String(base), '--mqtt-port', String(others[0]), '--ws-port', String(others[1]),
  ]);
  const restarted = new Map<string, { child: ChildProcess; lines: string[] }>();
  const argvOf = new Map<string, string[]>();
  const output = () => [...up.lines, ...[...restarted.values()].flatMap((r) => r.lines)].join('\n');
  const ready = await until('nuvem up: cluster ready', () => {
    if (gone(up.child)) throw new Error(`nuvem up exited (${up.child.exitCode})\n${output()}`);
    const line = up.lines.find((l) => l.includes('"cluster ready"'));
    return line ? JSON.parse(line) : undefined;
  }, 60_000, output);
  for (const { argv } of childrenOf(up.child.pid!)) {
    const id = argv[argv.indexOf('--id') + 1];
    if (argv.includes('--id')) argvOf.set(id, argv);
  }
  const pidOf = (id: string): number => {
    const again = restarted.get(id);
    if (again) return again.child.pid!;
    const found = childrenOf(up.child.pid!).find((c) => c.argv.includes('--id') && c.argv[c.argv.indexOf('--id') + 1] === id);
    if (!found) throw new Error(`no running process for ${id}`);
    return found.pid;
  };
  const alive = (pid: number) => {
    try {
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  return {
    nodes: ready.nodes,
    mqtt: ready.mqtt,
    ws: ready.ws,
    dashboard: ready.dashboard,
    dir,
    output,
    async killNode(id) {
      const pid = pidOf(id);
      process.kill(pid, 'SIGKILL');
      await until(`${id} (pid ${pid}) gone after SIGKILL`, () => (alive(pid) ? undefined : true), 5000, output);
    },
    async restartNode(id) {
      const argv = argvOf.get(id);
      if (!argv) throw new Error(`no command line known for ${id}`);
      const node = spawnGroup(argv[0], argv.slice(1));
      restarted.set(id, node);
      await until(`${id} listening again`, () => {
        if (gone(node.child)) throw new Error(`${id} exited (${node.child.exitCode})\n${node.lines.join('\n')}`);
        return node.lines.some((l) => l.includes('"msg":"listening"')) ? true : undefined;
      }, 60_000, output);
    },
    async stop() {
      const children = [up.child, ...[...restarted.values()].map((r) => r.child)];
      for (const child of children) if (!gone(child)) process.kill(child.pid!, 'SIGINT');
      const deadline = Date.now() + 8000;
      while (children.some((c) => !gone(c)) && Date.now() < deadline) await sleep(50);
      for (const child of children) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // stopped
        }
      }
      dir.cleanup();
    },
  };
}
