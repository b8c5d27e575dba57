/**
 * A storage node as a supervised child process, for `nuvem up` (up.ts): its
 * stdout JSON lines passed on tagged with `"proc"`, its URL read from the
 * `"msg":"listening"` line, its stderr kept (and passed on once it listens).
 *
 * @example
 * const entry = await nodeEntry();
 * const child = spawnNodeChild({ name: 'node-1', entry, args: ['--id', 'node-1', '--port', '7001', '--data', 'data/node-1'] });
 * console.log(await child.ready); // http://127.0.0.1:7001
 * await child.stop(4000);
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_ENV, NODE_FLAGS } from './node_flags.ts';
/** The folders the node bundle is built from: it is stale when any file in them is newer. */
const SOURCE_DIRS = ['nodes', 'functions', 'broker', 'protocol'];
const STDERR_KEPT = 40;

export interface NodeEntry {
  /** Arguments to `process.execPath` before the node's own flags. */
  args: string[];
  bundled: boolean;
}

/**
 * How to start a node: the esbuild bundle `dist/nuvem-node.cjs` (`npm run build`)
 * when it is newer than every source file it is built from, else `nodes/main.ts`
 * through tsx. Either way with the V8 flags of node_flags.ts.
 */
export async function nodeEntry(root = packageRoot()): Promise<NodeEntry> {
  const bundle = join(root, 'dist', 'nuvem-node.cjs');
  const built = await fsp.stat(bundle).catch(() => undefined);
  if (built) {
    const newest = Math.max(...(await Promise.all(SOURCE_DIRS.map((dir) => newestMtime(join(root, dir))))));
    if (built.mtimeMs > newest) return { args: [...NODE_FLAGS, bundle], bundled: true };
  }
  const tsx = pathToFileURL(createRequire(join(root, 'package.json')).resolve('tsx')).href;
  return { args: [...NODE_FLAGS, '--import', tsx, join(root, 'nodes', 'main.ts')], bundled: false };
}

/**
 * The package's folder: the parent of nodes/ when this module runs from its
 * source (tsx, Deno), else the parent of dist/, since esbuild's CommonJS
 * bundles (dist/nuvem.cjs, dist/nuvem-node.cjs) have no import.meta.url.
 */
export function packageRoot(): string {
  const here = (import.meta as { url?: string }).url;
  if (here?.startsWith('file:')) return fileURLToPath(new URL('..', here));
  return dirname(dirname(__filename));
}

async function newestMtime(dir: string): Promise<number> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
  const times = await Promise.all(
    entries.map((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return newestMtime(path);
      return fsp.stat(path).then((s) => s.mtimeMs, () => 0);
    }),
  );
  return Math.max(0, ...times);
}

export interface NodeChildOptions {
  /** `node-K`: tags its log lines. */
  name: string;
  entry: NodeEntry;
  /** The node's flags (`--id … --port …`). */
  args: string[];
  env?: Record<string, string | undefined>;
  /** Where its stdout lines go, tagged (default: this process's stdout). */
  writeOut?: (line: string) => void;
  /** Where its stderr lines go once it listens (default: this process's stderr, prefixed). */
  writeErr?: (line: string) => void;
}

export interface NodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeChild {
  name: string;
  pid: number | undefined;
  /** The URL from its "listening" line; rejects with its stderr if it exits before. */
  ready: Promise<string>;
  /** Resolves once the process is gone. */
  exited: Promise<NodeExit>;
  isRunning(): boolean;
  /** The last lines it wrote to stderr. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs: number): Promise<NodeExit>;
  /** SIGKILL now. */
  kill(): void;
}

/** A node child that exited before it listened; `message` is its stderr. */
export class NodeStartError extends Error {
  override name = 'NodeStartError';
  constructor(
    message: string,
    readonly exit: NodeExit,
  ) {
    super(message);
  }
}

export function spawnNodeChild(options: NodeChildOptions): NodeChild {
  const { name } = options;
  const writeOut = options.writeOut ?? ((line: string) => process.stdout.write(line + '\n'));
  const writeErr = options.writeErr ?? ((line: string) => process.stderr.write(`${name}: ${line}\n`));
  const child = spawn(process.execPath, [...options.entry.args, ...options.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...(options.env ?? process.env), ...NODE_ENV },
  });
  let exit: NodeExit | undefined;
  const exited = new Promise<NodeExit>((resolve) => {
    // 'close', not 'exit': its last lines are passed on before it counts as gone.
    child.once('close', (code, signal) => resolve((exit = { code, signal })));
    child.once('error', () => resolve((exit ??= { code: null, signal: null }))); // could not spawn
  });

  const errLines: string[] = [];
  let listening = false;
  const stderrDone = new Promise<void>((resolve) => {
    createInterface({ input: child.stderr! })
      .on('line', (line) => {
        errLines.push(line);
        if (errLines.length > STDERR_KEPT) errLines.shift();
        if (listening) writeErr(line);
      })
      .once('close', resolve);
  });

  const ready = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      writeOut(tagLine(line, name));
      if (listening || !line.includes('"listening"')) return;
      const url = listeningUrl(line);
      if (!url) return;
      listening = true;
      for (const held of errLines) writeErr(held);
      resolve(url);
    });
    child.once('error', (err) => reject(new NodeStartError(`Cannot start ${name}: ${err.message}`, { code: null, signal: null })));
    void exited.then(async (how) => {
      if (listening) return;
      await stderrDone; // the reason is in its last words
      const said = errLines.join('\n').trim();
      reject(new NodeStartError(said || `${name} exited (${how.code ?? how.signal}) before listening`, how));
    });
  });
  ready.catch(() => {}); // the launcher awaits it; a failure it never waits for is not unhandled

  const signal = (sig: NodeJS.Signals) => {
    if (!exit && child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  return {
    name,
    pid: child.pid,
    ready,
    exited,
    isRunning: () => !exit,
    stderr: () => errLines.join('\n'),
    kill: () => signal('SIGKILL'),
    async stop(graceMs) {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };
}

/** A JSON log line gets `"proc":NAME` first; anything else becomes one. */
export function tagLine(line: string, name: string): string {
  const proc = `"proc":${JSON.stringify(name)}`;
  if (/^\{\s*"/.test(line)) return `{${proc},${line.slice(1)}`;
  return JSON.stringify({ ts: new Date().toISOString(), level: 'info', proc: name, msg: line });
}

function listeningUrl(line: string): string | undefined {
  try {
    const msg = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return msg.msg === 'listening' && typeof msg.url === 'string' ? msg.url : undefined;
  } catch {
    return undefined;
  }
}
