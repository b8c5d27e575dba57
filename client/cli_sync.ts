/**
 * `nuvem sync DIR [--remote FOLDER] [--once]` (DESIGN.md sections 5 and 6):
 * runs a `SyncFolder` until Ctrl-C or SIGTERM (which close it cleanly), or,
 * with `--once`, reconciles and exits: 0 when both sides are in sync, 1 when
 * something could not be synced.
 *
 * On a terminal it keeps one status line on stderr (files, state, the last
 * change) and prints warnings above it; otherwise every event is one JSON
 * object per line on stdout, with a `level`: each change, each pass that did
 * something, warnings and errors.
 */
import { resolve } from 'node:path';
import type { CommandContext, CommandInput } from './cli_commands.ts';
import { normalizeRemote } from './paths.ts';
import type { ProgressStream } from './progress.ts';
import { SyncFolder, type SyncChange, type SyncStatus } from './sync.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';

const ARROWS = { up: '↑', down: '↓' } as const;

/** The status line: `nuvem sync: 12 files, idle, last: ↑ modified notes.txt at 12:03:04`. */
export function statusLine(info: { files: number; status: SyncStatus; last?: SyncChange & { time: string } }): string {
  const last = info.last
    ? `, last: ${ARROWS[info.last.direction]} ${info.last.type} ${info.last.path} at ${info.last.time.slice(11, 19)}`
    : '';
  return `nuvem sync: ${info.files} file${info.files === 1 ? '' : 's'}, ${info.status}${last}`;
}

/** One status line, redrawn in place; other lines are printed above it. */
function liveLine(stream: ProgressStream) {
  let shown = '';
  const fit = (text: string) => (stream.columns && text.length >= stream.columns ? `${text.slice(0, stream.columns - 2)}…` : text);
  return {
    draw(text: string) {
      if (text === shown) return;
      shown = text;
      stream.write(`\r\x1b[2K${fit(text)}`);
    },
    print(text: string) {
      stream.write(`\r\x1b[2K${text}\n${fit(shown)}`);
    },
    end() {
      if (shown !== '') stream.write('\n');
    },
  };
}

export async function runSync(ctx: CommandContext, { args, options }: CommandInput): Promise<void> {
  const dir = resolve(args[0]);
  const remote = normalizeRemote(typeof options.remote === 'string' ? options.remote : '', { root: true });
  const terminal = ctx.progressStream.isTTY === true && !ctx.json;
  const line = terminal ? liveLine(ctx.progressStream) : undefined;
  const log = (level: Level, msg: string, fields: object = {}) => {
    if (level === 'debug' && (line || !ctx.verbose)) return;
    if (line) {
      if (level !== 'info') line.print(`nuvem: ${level === 'warn' ? 'warning: ' : ''}${msg}`);
      return;
    }
    ctx.out(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  };
  const sync = new SyncFolder({ dir, client: ctx.client, remote, log });
  const redraw = () => line?.draw(statusLine({ files: sync.files, status: sync.status, last: sync.lastChange }));
  sync.on('status', redraw);
  sync.on('change', (change) => {
    if (line) redraw();
    else log('info', 'change', change);
  });
  const ticker = line ? setInterval(redraw, 1000) : undefined;
  const stop = () => void sync.close();
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    if (options.once === true) {
      const summary = await sync.reconcile();
      ctx.signal.throwIfAborted();
      const problems = summary.failed + summary.unsettled;
      log('info', problems === 0 ? 'in sync' : 'not in sync', { dir, remote: remote || '/', ...summary });
      if (problems > 0) throw new Error(`${problems} path(s) could not be synced; see the messages above`);
      return;
    }
    log('info', 'syncing', { dir, remote: remote || '/', via: ctx.via });
    await sync.start();
    log('info', 'live', { files: sync.files, status: sync.status });
    redraw();
    await new Promise<void>((done) => {
      if (ctx.signal.aborted) return done();
      ctx.signal.addEventListener('abort', () => done(), { once: true });
    });
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    clearInterval(ticker);
    await sync.close();
    line?.end();
    if (!options.once) log('info', 'stopped', { dir });
  }
}
