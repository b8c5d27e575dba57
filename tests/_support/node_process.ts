/**
 * A storage node as a child process: `node --import tsx/esm nodes/main.ts` (so the
 * PID is the node's own, not a wrapper's, and `kill -9` hits the node), on
 * port 0, its URL read from the `"msg":"listening"` log line. `entry` runs
 * another script taking the same options (a node with a seam set).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A broker address nothing listens on: the node serves HTTP without waiting for it. */
export const NO_BROKER = 'mqtt://127.0.0.1:1';

export interface NodeProcess {
  pid: number;
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** Log lines (stdout and stderr) so far, for failure messages. */
  output: string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** `kill -9`; resolves once the process is gone. */
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of live) if (child.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * @example
 * const node = await startNodeProcess({ dataDir: dir.path });
 * await fetch(`${node.url}/health`);
 * await node.stop();
 */
export function startNodeProcess(options: { dataDir: string; args?: string[]; timeoutMs?: number; watch?: boolean; entry?: string; env?: Record<string, string> }): Promise<NodeProcess> {
  const args = [
    '--import', 'tsx/esm', options.entry ?? 'nodes/main.ts',
    '--port', '0', '--data', options.dataDir, '--broker', NO_BROKER, ...(options.watch ? [] : ['--no-watch']), '--log-level', 'info',
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  live.add(child);
  // A node a failed test left running must not keep the test run alive; the
  // exit handler above kills it.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    live.delete(child);
    resolve();
  }));
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  const lines = createInterface({ input: child.stdout! });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const signal = async (sig: NodeJS.Signals) => {
    if (!gone() && child.pid) {
      try {
        process.kill(child.pid, sig);
      } catch {
        // already gone
      }
    }
    const wait = setInterval(() => {}, 60_000); // the child is unref'd: stay alive until it has exited
    await exited;
    clearInterval(wait);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void signal('SIGKILL');
      reject(new Error(`node did not print "listening" within ${options.timeoutMs ?? 20000} ms:\n${output.join('\n')}`));
    }, options.timeoutMs ?? 20000);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code ?? sig}) before listening:\n${output.join('\n')}`));
    });
    lines.on('line', (line) => {
      output.push(line);
      let msg: { msg?: string; url?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.msg !== 'listening' || typeof msg.url !== 'string') return;
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        url: msg.url,
        dataDir: options.dataDir,
        child,
        output,
        kill: () => signal('SIGKILL'),
        async stop(graceMs = 5000) {
          const timer = setTimeout(() => void signal('SIGKILL'), graceMs);
          await signal('SIGTERM');
          clearTimeout(timer);
        },
      });
    });
  });
}
