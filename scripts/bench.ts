/**
 * `npm run bench -- [suite ...] [--json] [--quick] [--FLAG ...]`: runs the suites in scripts/bench/<suite>.bench.ts.
 * With --json, one JSON object per line; otherwise a table at the end. Other flags go to the suites
 * (e.g. `models --vs-pytorch`).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult, BenchSuite } from './bench/types';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const flags = args.filter((a) => a.startsWith('--'));
  const available = readdirSync(join(__dirname, 'bench'))
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.replace(/\.bench\.ts$/, ''))
    .sort();
  const wanted = args.filter((a) => !a.startsWith('--'));
  for (const name of wanted) {
    if (!available.includes(name)) {
      process.stderr.write(`bench: unknown suite "${name}"; available: ${available.join(', ')}\n`);
      process.exit(2);
    }
  }
  const suites = wanted.length > 0 ? wanted : available;
  const results: BenchResult[] = [];
  for (const name of suites) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(join(__dirname, 'bench', `${name}.bench.ts`)) as { default: BenchSuite };
    if (!json) process.stderr.write(`bench: running ${name}...\n`);
    for await (const result of mod.default({ quick, flags })) {
      const line = { suite: name, ...result, date: new Date().toISOString() };
      results.push(line);
      if (json) process.stdout.write(`${JSON.stringify(line)}\n`);
      else process.stderr.write(`  ${result.metric} = ${formatValue(result.value)} ${result.unit}\n`);
    }
  }
  if (!json) printTable(results);
}

function formatValue(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

function printTable(results: BenchResult[]): void {
  const rows = results.map((r) => {
    const extra = Object.entries(r)
      .filter(([k]) => !['suite', 'metric', 'value', 'unit', 'backend', 'date'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'number' ? formatValue(v) : String(v)}`)
      .join(' ');
    return [r.metric, formatValue(r.value), r.unit, r.backend ?? '', extra];
  });
  const header = ['metric', 'value', 'unit', 'backend', 'context'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${line(r.map(String))}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
