/** Logs as one JSON object per line, with a `level`, on stdout. */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: Level, msg: string, fields?: object) => void;

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLog(options: { level: Level; node?: string; write?: (line: string) => void }): Log {
  const write = options.write ?? ((line: string) => console.log(line));
  const min = RANK[options.level];
  return (level, msg, fields = {}) => {
    if (RANK[level] < min) return;
    write(JSON.stringify({ ts: new Date().toISOString(), level, node: options.node, msg, ...fields }));
  };
}

export function isLevel(s: string): s is Level {
  return s in RANK;
}
