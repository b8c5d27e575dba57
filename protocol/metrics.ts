/**
 * Counters and gauges, rendered as Prometheus text. Pure bookkeeping; the
 * node registers gauges that read live values when scraped.
 */
type Labels = Record<string, string>;

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, { labels: Labels; value: number }>;
  read?: () => { labels: Labels; value: number }[];
}

export class Metrics {
  #families = new Map<string, Family>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const family = this.#family(name, help, 'counter');
    return (labels = {}, by = 1) => {
      const key = JSON.stringify(labels);
      const slot = family.values.get(key);
      if (slot) slot.value += by;
      else family.values.set(key, { labels, value: by });
    };
  }

  /** A counter whose values the caller keeps, read at scrape time. */
  counterFrom(name: string, help: string, read: () => { labels: Labels; value: number }[]): void {
    this.#family(name, help, 'counter').read = read;
  }

  /** A gauge whose values are read at scrape time. */
  gauge(name: string, help: string, read: () => number | { labels: Labels; value: number }[]): void {
    const family = this.#family(name, help, 'gauge');
    family.read = () => {
      const v = read();
      return typeof v === 'number' ? [{ labels: {}, value: v }] : v;
    };
  }

  /** The current value of a counter or gauge (summed over the series matching `labels`). */
  value(name: string, labels: Labels = {}): number {
    const family = this.#families.get(name);
    let sum = 0;
    const values = family?.read ? family.read() : family?.values.values() ?? [];
    for (const { labels: l, value } of values) {
      if (Object.entries(labels).every(([k, v]) => l[k] === v)) sum += value;
    }
    return sum;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.#families) {
      lines.push(`# HELP ${name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${f.type}`);
      const values = f.read ? f.read() : [...f.values.values()];
      for (const { labels, value } of values) lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    }
    return lines.join('\n') + '\n';
  }

  #family(name: string, help: string, type: Family['type']): Family {
    let family = this.#families.get(name);
    if (!family) {
      family = { help, type, values: new Map() };
      this.#families.set(name, family);
    }
    return family;
  }
}

/** Prometheus spells the non-finite values `+Inf`, `-Inf` and `NaN`. */
function formatValue(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
