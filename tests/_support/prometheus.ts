/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4),
 * for tests of `/metrics`. It throws, naming the line, on anything a
 * Prometheus server would refuse or that breaks the naming conventions Nuvem
 * follows: every family has `# HELP` and `# TYPE` before its samples; a
 * family's samples are together; names and label names are valid, label
 * values properly quoted and escaped, values numbers (or NaN, +Inf, -Inf);
 * no series twice; counters end in `_total` and nothing else does; units
 * (`_bytes`, `_seconds`, `_ratio`) come last (before `_total`); every name
 * starts with `nuvem_`; the text ends with a newline.
 *
 * @example
 * const families = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
 * sampleValue(families, 'nuvem_http_requests_total', { route: '/status' });
 */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const UNITS = ['bytes', 'seconds', 'ratio'];

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const fail = (n: number, line: string, why: string): never => {
    throw new Error(`/metrics line ${n + 1}: ${why}: ${JSON.stringify(line)}`);
  };
  if (!text.endsWith('\n')) throw new Error('/metrics must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const seriesSeen = new Set<string>();
  const closed = new Set<string>(); // families whose samples are over (another family's began)
  let current: string | undefined;
  lines.forEach((line, n) => {
    if (line === '') fail(n, line, 'empty line');
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) {
        if (!line.startsWith('# ')) fail(n, line, 'a comment starts with "# "');
        return;
      }
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) fail(n, line, 'not a metric name');
      let f = families.get(name);
      if (f && f.samples.length) fail(n, line, `${kind} after the samples of ${name}`);
      if (!f) families.set(name, (f = { name, help: '', type: 'untyped', samples: [] }));
      if (kind === 'HELP') {
        if (f.help) fail(n, line, `second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) fail(n, line, 'HELP escapes only \\\\ and \\n');
        if (rest.trim() === '') fail(n, line, 'empty HELP');
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      } else {
        if (!TYPES.includes(rest)) fail(n, line, `unknown TYPE "${rest}"`);
        if (f.type !== 'untyped' || (f as { typed?: boolean }).typed) fail(n, line, `second TYPE for ${name}`);
        f.type = rest as Family['type'];
        (f as { typed?: boolean }).typed = true;
      }
      if (current && current !== name) closed.add(current);
      current = name;
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) fail(n, line, 'not a sample (name{labels} value [timestamp])');
    const [, name, rawLabels, rawValue] = m!;
    const f = families.get(name);
    if (!f || !f.help || !(f as { typed?: boolean }).typed) fail(n, line, `sample of ${name} before its HELP and TYPE`);
    if (closed.has(name)) fail(n, line, `samples of ${name} are not together`);
    if (current && current !== name) closed.add(current);
    current = name;
    const labels = parseLabels(rawLabels ?? '', (why) => fail(n, line, why));
    const value = parseValue(rawValue, (why) => fail(n, line, why));
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seriesSeen.has(key)) fail(n, line, 'the same series twice');
    seriesSeen.add(key);
    if (f!.type === 'counter' && !(value >= 0)) fail(n, line, 'a counter below zero');
    f!.samples.push({ labels, value });
  });
  for (const f of families.values()) {
    const bad = (why: string) => {
      throw new Error(`/metrics family ${f.name}: ${why}`);
    };
    if (!f.help || !(f as { typed?: boolean }).typed) bad('needs both HELP and TYPE');
    if (!f.name.startsWith('nuvem_')) bad('names start with nuvem_');
    if (f.type === 'counter' && !f.name.endsWith('_total')) bad('a counter\'s name ends in _total');
    if (f.type !== 'counter' && f.name.endsWith('_total')) bad('only counters end in _total');
    const words = f.name.replace(/_total$/, '').split('_');
    for (const unit of UNITS) {
      const at = words.indexOf(unit);
      if (at >= 0 && at !== words.length - 1) bad(`the unit "${unit}" comes last (before _total)`);
    }
    delete (f as { typed?: boolean }).typed;
  }
  return families;
}

function parseLabels(raw: string, fail: (why: string) => never): Record<string, string> {
  const labels: Record<string, string> = {};
  if (raw === '') return labels;
  let rest = raw.slice(1, -1);
  while (rest.length) {
    const m = /^([^=]*)="((?:[^"\\]|\\.)*)"(,?)/.exec(rest);
    if (!m) fail('labels are name="value" pairs separated by commas');
    const [whole, name, value, comma] = m!;
    if (!LABEL_NAME.test(name) || name.startsWith('__')) fail(`not a label name: ${name}`);
    if (name in labels) fail(`label ${name} twice`);
    if (/\\[^\\"n]/.test(value.replace(/\\\\/g, ''))) fail('label values escape only \\\\, \\" and \\n');
    labels[name] = value.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
    if (!comma && rest.length) fail('labels are separated by commas');
  }
  return labels;
}

function parseValue(raw: string, fail: (why: string) => never): number {
  if (raw === 'NaN') return NaN;
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(raw)) fail(`not a number: ${raw}`);
  return Number(raw);
}

/** The sum of a family's samples whose labels include `labels` (0 when none). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of families.get(name)?.samples ?? []) {
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
