import { Injectable } from '@nestjs/common';

type Labels = Record<string, string>;

/** Counters and gauges rendered as Prometheus text at `/metrics`. */
@Injectable()
export class MetricsService {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly gauges = new Map<string, { help: string; read: () => number }>();

  constructor() {
    this.defineCounter('fedct_rounds_total', 'Rounds that reached a final state, by state.');
    this.defineCounter('fedct_updates_accepted_total', 'Site updates accepted.');
    this.defineCounter('fedct_updates_rejected_total', 'Site updates rejected, by reason code.');
    this.defineCounter('fedct_evaluation_results_rejected_total', 'Federated-evaluation results refused, by reason code.');
    this.defineCounter('fedct_bytes_in_total', 'Bytes received from sites (update chunks).');
    this.defineCounter('fedct_bytes_out_total', 'Bytes sent to sites (model chunks).');
    this.defineCounter('fedct_auth_failures_total', 'Refused site authentications, by reason code.');
    this.defineGauge('process_resident_memory_bytes', 'Resident set size of the coordinator process.', () => process.memoryUsage().rss);
    this.defineGauge('process_cpu_seconds_total', 'User + system CPU time of the coordinator process.', () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    });
  }

  defineCounter(name: string, help: string): void {
    if (!this.counters.has(name)) this.counters.set(name, { help, values: new Map() });
  }

  defineGauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  inc(name: string, by = 1, labels: Labels = {}): void {
    const counter = this.counters.get(name);
    if (!counter) throw new Error(`unknown metric ${name}`);
    const key = labelText(labels);
    counter.values.set(key, (counter.values.get(key) ?? 0) + by);
  }

  /** Current value of a counter (sum over labels when `labels` is omitted). */
  value(name: string, labels?: Labels): number {
    const counter = this.counters.get(name);
    if (!counter) return 0;
    if (labels) return counter.values.get(labelText(labels)) ?? 0;
    let total = 0;
    for (const v of counter.values.values()) total += v;
    return total;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      if (c.values.size === 0) lines.push(`${name} 0`);
      for (const [labels, v] of c.values) lines.push(`${name}${labels} ${v}`);
    }
    for (const [name, g] of this.gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    }
    return lines.join('\n') + '\n';
  }
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`;
}
