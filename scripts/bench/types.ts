/** One measured figure: `metric` is one of the names in docs/cli.md; extra fields give context. */
export interface BenchResult {
  metric: string;
  value: number;
  unit: string;
  backend?: string;
  [key: string]: unknown;
}

/** A bench suite: `scripts/bench/<name>.bench.ts` exports `run` as its default. */
export type BenchSuite = (options: BenchOptions) => AsyncIterable<BenchResult>;

/** What `npm run bench` passes to every suite. */
export interface BenchOptions {
  /** `--quick`: a short run (fewer repetitions, smaller sizes). */
  quick: boolean;
  /** Every `--flag` on the command line (`--json` and `--quick` included), for suite-specific switches such as `--vs-pytorch`. */
  flags: readonly string[];
}
