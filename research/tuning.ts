/** Helpers shared by the tuning scripts (`research/fed-sim.ts`, `research/classifier-diag.ts`); not part of the product. */

/** Scales a volume in place to mean 0 and standard deviation 1. */
export function standardise(v: Float32Array): void {
  let mean = 0, squares = 0;
  for (const x of v) { mean += x; squares += x * x; }
  mean /= v.length;
  const sd = Math.sqrt(Math.max(squares / v.length - mean * mean, 1e-12));
  for (let i = 0; i < v.length; i++) v[i] = ((v[i] ?? 0) - mean) / sd;
}
