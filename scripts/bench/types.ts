/** One measured figure: `metric` is one of the names in DESIGN.md §7; extra fields give context. */
export interface BenchResult {
  metric: string;
  value: number;
  unit: string;
  backend?: string;
  [key: string]: unknown;
}

/** A bench suite: `scripts/bench/<name>.bench.ts` exports `run` as its default. */
export type BenchSuite = (options: { quick: boolean }) => AsyncIterable<BenchResult>;
